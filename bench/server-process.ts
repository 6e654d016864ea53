// The processes `npm run bench` starts: the compiled server (dist/src/main.js, built when missing
// or older than src/), each in its own process so its CPU time is its own, and a private
// redis-server. Everything listens on 127.0.0.1; only these children are ever stopped.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "dist/src/main.js");
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs `npm run build` when dist/src/main.js is missing or older than a file under src/; throws with tsc's output if it fails. */
export function ensureBuild(): "built" | "up to date" {
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= newestMtime(join(ROOT, "src"))) return "up to date";
  const built = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
  return "built";
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** Sends SIGTERM, then SIGKILL after `ms`; resolves once the child has exited. */
async function stopChild(child: ChildProcess, ms = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(timer);
}

/** A private redis-server on a free port, keeping nothing on disk. */
export async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const ping = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
    if (ping.stdout.trim() === "PONG") break;
    if (i > 40) throw new Error("redis-server did not answer within 10 s");
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, stop: () => stopChild(child) };
}

export interface ServerProcess {
  /** http://127.0.0.1:<port>/graphql */
  url: string;
  pid: number;
  /** The process's CPU time so far (user + system, every thread), in ms, from /proc/<pid>/stat. */
  cpuMs(): number;
  /** cartwheel_sql_statements_total from its /metrics. */
  sqlStatements(): Promise<number>;
  /** What it wrote to stdout and stderr (LOG_LEVEL=warn: warnings and errors only). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/src/main.js` with exactly `env` (plus PATH and HOME) on a free port and waits
 * for /health/ready (the server applies the migrations before it listens). Rejects with its
 * output if it exits first or is not ready within 60 s.
 */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const origin = `http://127.0.0.1:${port}`;
  const server: ServerProcess = {
    url: `${origin}/graphql`,
    pid: child.pid!,
    cpuMs() {
      // Fields after the command name (which may hold spaces, so split after its closing paren).
      const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
    },
    async sqlStatements() {
      const text = await (await fetch(`${origin}/metrics`)).text();
      const match = /^cartwheel_sql_statements_total (\d+)/m.exec(text);
      if (!match) throw new Error("no cartwheel_sql_statements_total in /metrics");
      return Number(match[1]);
    },
    output: () => output,
    stop: () => stopChild(child),
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`${origin}/health/ready`).then((r) => r.ok, () => false);
    if (ready) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`server not ready within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Real processes for tests of what users run: the server (`npm start`, or the compiled build)
// and the command-line tools, on the embedded database in a temporary DATA_DIR.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The environment of a user's shell on the embedded default: no database or Redis URL, no key, no HOST. */
export function embeddedEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "info", NODE_ENV: "development", ...extra };
  for (const name of ["DATABASE_URL", "REDIS_URL", "JWT_PRIVATE_KEY", "SEED_DEMO", "HOST"]) if (!(name in extra)) delete env[name];
  return env;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` in the project root to completion (killed after `ms`). */
export async function runNode(args: string[], env: NodeJS.ProcessEnv, ms = 60_000): Promise<Run> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  try {
    const [code] = (await once(child, "exit")) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** `node --import tsx <script> …args`, as the npm scripts run it. */
export const runScript = (script: string, args: string[], env: NodeJS.ProcessEnv, ms?: number) => runNode(["--import", "tsx", script, ...args], env, ms);

export interface ServerProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port>/graphql, from the server's log line. */
  url: string;
  output(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a server process and resolves once it logs the URL it listens on (JSON log lines, so
 * LOG_LEVEL must be info or lower); rejects with its output if it exits or takes over `ms`.
 * The caller stops it; `leftovers` gets it so an afterAll can kill what a failed test left.
 */
export async function startServerProcess(args: string[], env: NodeJS.ProcessEnv, leftovers: ChildProcess[], ms = 90_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  leftovers.push(child);
  let output = "";
  const exited = once(child, "exit") as Promise<[number | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${ms} ms:\n${output}`)), ms);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split("\n")) {
        const url = /^\{.*"url":"(http:\/\/[^"]+)"/.exec(line)?.[1];
        if (url) {
          clearTimeout(timer);
          resolve(url.replace("localhost", "127.0.0.1"));
        }
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    url,
    output: () => output,
    async stop(signal = "SIGTERM") {
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}

// The real load balancer for topology tests: Debian's HAProxy binary run on the repository's own
// deploy/haproxy/haproxy.cfg, unchanged. Only addresses differ from compose.yaml, and those come
// in through the environment variables the file reads (CW_*), never by rewriting the file.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

export const HAPROXY_CONFIG = fileURLToPath(new URL("../../deploy/haproxy/haproxy.cfg", import.meta.url));
/** Debian's package; CI installs it (.ci/run). Absent: the test fails, it is never skipped. */
export const HAPROXY_BINARY = "haproxy";

/** A TCP port on 127.0.0.1 that was free a moment ago (for processes that must keep one port across restarts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What HAProxy's stats page says of one server: UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (coming up), MAINT, … */
export type ServerStatus = string;

export interface Balancer {
  /** http://127.0.0.1:<port>, the balanced frontend. */
  origin: string;
  child: ChildProcess;
  /** The status of each server of the `cartwheel` backend, from the stats CSV. */
  statuses(): Promise<Record<string, ServerStatus>>;
  /** Resolves once HAProxy's stats report `server` with exactly `status` (read every 100 ms); rejects after `ms` (default 30 s) with what it saw last. */
  waitForStatus(server: string, status: ServerStatus, ms?: number): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

const leftovers: ChildProcess[] = [];
let registered = false;

/**
 * Starts HAProxy in the foreground (-db) on free loopback ports in front of `instances` (host:port,
 * in the order of the config's servers cw1, cw2). Resolves once its stats frontend answers;
 * rejects with a clear message when the binary is missing or the config is refused. Killed after
 * the file's tests if the test did not stop it.
 */
export async function startBalancer(instances: [string, string], ms = 10_000): Promise<Balancer> {
  if (!registered) {
    registered = true;
    afterAll(() => {
      for (const child of leftovers) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
  }
  const [port, statsPort] = [await freePort(), await freePort()];
  const child = spawn(HAPROXY_BINARY, ["-db", "-f", HAPROXY_CONFIG], {
    env: {
      PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin`,
      CW_LB_BIND: `127.0.0.1:${port}`,
      CW_STATS_BIND: `127.0.0.1:${statsPort}`,
      CW_INSTANCE_1: instances[0],
      CW_INSTANCE_2: instances[1],
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  leftovers.push(child);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const failed = new Promise<never>((_, reject) => {
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "ENOENT" ? new Error(`${HAPROXY_BINARY} is not installed: apt-get install -y haproxy (see .ci/run)`) : error),
    );
    child.once("exit", (code) => reject(new Error(`haproxy exited with ${code}:\n${output}`)));
  });
  failed.catch(() => {}); // observed below; a later exit (stop()) must not be an unhandled rejection

  const stats = `http://127.0.0.1:${statsPort}/stats;csv`;
  const statuses = async (): Promise<Record<string, ServerStatus>> => {
    const csv = await (await fetch(stats)).text();
    const [header, ...rows] = csv.trim().split("\n");
    const columns = header!.replace(/^# /, "").split(",");
    const [px, sv, st] = ["pxname", "svname", "status"].map((name) => columns.indexOf(name));
    const result: Record<string, ServerStatus> = {};
    for (const row of rows) {
      const cells = row.split(",");
      if (cells[px!] === "cartwheel" && cells[sv!] !== "BACKEND") result[cells[sv!]!] = cells[st!]!;
    }
    return result;
  };

  const deadline = Date.now() + ms;
  for (;;) {
    const up = await Promise.race([statuses().then(() => true, () => false), failed]);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`haproxy's stats did not answer within ${ms} ms:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    origin: `http://127.0.0.1:${port}`,
    child,
    statuses,
    async waitForStatus(server, status, wait = 30_000) {
      const until = Date.now() + wait;
      let seen: ServerStatus | undefined;
      for (;;) {
        seen = (await statuses())[server];
        if (seen === status) return;
        if (Date.now() > until) throw new Error(`haproxy did not report ${server} ${status} within ${wait} ms (last: ${seen})`);
        // The stats page is HAProxy's own state. Its log lines are no substitute: the first
        // check's result (from the initial state to UP) is not logged as a transition.
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

// Private Redis topologies for the tests of REDIS_URL's Cluster and Sentinel forms: redis-server
// processes this test file starts on free ports, with their files in a temporary directory. Only
// these children are ever stopped (never the shared Redis on 6379).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import type { App } from "../../src/app.ts";
import { DEMO, createTestDatabase, logIn, startTestServer, tempDir, uniquePrefix } from "./index.ts";

export interface RedisTopology {
  /** The REDIS_URL that names it. */
  url: string;
  /** The data nodes' ports (a Cluster's masters; a Sentinel set's master). */
  ports: number[];
  /** Kills every process it started and removes its directory; safe to call twice, never rejects. */
  stop(): Promise<void>;
  /** SIGKILLs the redis-server on `port`, as a crash would. */
  kill(port: number): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `redis-server <args>` and resolves once it logs that it accepts connections (rejects after `ms` or if it exits). */
async function startServer(args: string[], children: ChildProcess[], ms = 15_000): Promise<ChildProcess> {
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`redis-server ${args[0]} did not start within ${ms} ms:\n${output}`)), ms);
    const done = (error?: Error) => {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready to accept connections|Sentinel ID is/.test(output)) done();
    };
    const onExit = (code: number | null) => done(new Error(`redis-server ${args[0]} exited with ${code}:\n${output}`));
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", onExit);
  });
  // Its log is read no further, but the pipe must not fill up.
  child.stdout!.resume();
  return child;
}

function killer(byPort: Map<number, ChildProcess>): (port: number) => Promise<void> {
  return async (port) => {
    const child = byPort.get(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  };
}

function stopper(children: ChildProcess[], dir: string): () => Promise<void> {
  return async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
}

/** Polls `check` every 100 ms until it is true; rejects with `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(command: string, args: string[], ms = 30_000): Promise<string> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} failed (${code}):\n${output}`);
  return output;
}

/**
 * A Redis Cluster of `masters` nodes without replicas (`redis-cli --cluster create`), resolved
 * once every node reports `cluster_state:ok`. The URL is `redis+cluster://` naming only the first
 * node: the client must discover the others itself.
 */
export async function startRedisCluster(masters = 3): Promise<RedisTopology> {
  const dir = mkdtempSync(join(tmpdir(), "cartwheel-redis-cluster-"));
  const children: ChildProcess[] = [];
  const byPort = new Map<number, ChildProcess>();
  const stop = stopper(children, dir);
  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      ports.push(port);
      const child = await startServer(
        ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-port", String(busPort), "--cluster-node-timeout", "2000",
         "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--dir", dir, "--save", "", "--appendonly", "no"],
        children,
      );
      byPort.set(port, child);
    }
    await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"]);
    await Promise.all(
      ports.map(async (port) => {
        const node = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
        node.on("error", () => {});
        try {
          await until(`node ${port} reported no cluster_state:ok`, async () => /cluster_state:ok/.test(await node.cluster("INFO")), 20_000);
        } finally {
          node.disconnect();
        }
      }),
    );
    return { url: `redis+cluster://127.0.0.1:${ports[0]}`, ports, stop, kill: killer(byPort) };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A Sentinel set: a master, its replica, one Sentinel (quorum 1) that fails over within about 2 s. */
export interface RedisSentinelSet extends RedisTopology {
  /** ports[0] is the first master, ports[1] its replica. */
  sentinelPort: number;
  /** Resolves once the Sentinel names the master at `port` (rejects after `ms`). */
  masterIs(port: number, ms?: number): Promise<void>;
}

/**
 * A master redis-server and its replica watched by one Sentinel under `masterName`, resolved once
 * the Sentinel names the master and the replica has synced. The URL is `redis+sentinel://`
 * naming the Sentinel only: the client learns the master from it.
 */
export async function startRedisSentinel(masterName = "cartwheel"): Promise<RedisSentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), "cartwheel-redis-sentinel-"));
  const children: ChildProcess[] = [];
  const byPort = new Map<number, ChildProcess>();
  const stop = stopper(children, dir);
  try {
    const [port, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
    const node = (p: number, extra: string[] = []) => ["--port", String(p), "--bind", "127.0.0.1", "--dir", dir, "--dbfilename", `dump-${p}.rdb`, "--save", "", "--appendonly", "no", ...extra];
    byPort.set(port, await startServer(node(port), children));
    byPort.set(replicaPort, await startServer(node(replicaPort, ["--replicaof", "127.0.0.1", String(port)]), children));
    const replica = new Redis({ port: replicaPort, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
    replica.on("error", () => {});
    try {
      await until("the replica did not sync", async () => /master_link_status:up/.test(await replica.info("replication")), 15_000);
    } finally {
      replica.disconnect();
    }
    // A Sentinel rewrites its configuration file: it must be its own, writable.
    const conf = join(dir, "sentinel.conf");
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${port} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        "",
      ].join("\n"),
    );
    await startServer([conf, "--sentinel"], children);
    const masterIs = async (expected: number, ms = 15_000) => {
      const sentinel = new Redis({ port: sentinelPort, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
      sentinel.on("error", () => {});
      try {
        await until(`the sentinel did not name 127.0.0.1:${expected} master of ${masterName}`, async () => {
          const address = (await sentinel.call("SENTINEL", "get-master-addr-by-name", masterName)) as string[] | null;
          return address?.[1] === String(expected);
        }, ms);
      } finally {
        sentinel.disconnect();
      }
    };
    await masterIs(port);
    return { url: `redis+sentinel://127.0.0.1:${sentinelPort}/${masterName}`, ports: [port, replicaPort], sentinelPort, stop, kill: killer(byPort), masterIs };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Two server instances (one database, one Redis prefix, one signing key) on a private Redis
 * topology that `start` brings up, for the whole test file. `env` is added to both (REDIS_URL
 * is the topology's). Everything is torn down after the file, newest first, each step whatever
 * the others did, the Redis processes last; and no test may leave an unhandled rejection behind.
 * Read `.redis`, `.a`, `.b`, `.prefix`, `.staff` (a STAFF token) inside tests.
 */
export function useInstancesOnRedis<T extends RedisTopology>(start: () => Promise<T>, env: Record<string, string> = {}) {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const state = {} as { redis: T; a: App; b: App; prefix: string; staff: string };
  const cleanups: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    state.redis = await start();
    cleanups.push(() => state.redis.stop());
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    state.prefix = uniquePrefix();
    const options = { databaseUrl: db.url, dataDir: dir.path, redisPrefix: state.prefix, env: { REDIS_URL: state.redis.url, ...env } };
    state.a = await startTestServer(options);
    cleanups.push(() => state.a.stop());
    state.b = await startTestServer(options);
    cleanups.push(() => state.b.stop());
    state.staff = await logIn(state.a.url, DEMO.staff);
  });
  afterAll(async () => {
    const failures: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        failures.push(error);
      }
    }
    process.off("unhandledRejection", onUnhandled);
    if (failures.length) throw failures[0];
  });
  afterEach(() => expect(unhandled).toEqual([]));
  return state;
}

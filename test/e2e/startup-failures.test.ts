import { generateKeyPairSync } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase, tempDir } from "../harness/index.ts";
import { spawnMain } from "../harness/process.ts";

// Every way the real process can fail to start: one line on stderr that names the setting, no
// stack trace, no secret, and the exit code README documents.

const dir = tempDir("cartwheel-startup-");
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dir.remove();
});

const BASE = { NODE_ENV: "development", LOG_LEVEL: "info", PORT: "0", HOST: "127.0.0.1" };

/** Runs main.ts to its exit. */
async function run(env: Record<string, string>, ms = 60_000) {
  const main = spawnMain({ ...BASE, DATA_DIR: dir.path, ...env });
  const code = await main.exited(ms);
  return { code, stdout: main.stdout(), stderr: main.stderr() };
}

/** Exactly one non-empty line on stderr, no stack frame anywhere, none of the secrets. */
function expectOneLine(result: { stdout: string; stderr: string }, secrets: string[] = []): string {
  const lines = result.stderr.split("\n").filter((l) => l.trim() !== "");
  expect(lines, result.stderr).toHaveLength(1);
  const all = result.stdout + result.stderr;
  expect(all).not.toMatch(/^\s+at |\bat .*\(?[^\s()]+:\d+:\d+\)?/m); // no stack frame, not even folded into the line
  for (const secret of secrets) expect(all.includes(secret), `output contains a secret: ${all}`).toBe(false);
  return lines[0]!;
}

/** A TCP listener that counts connections and drops them: stands in for a database that must not be touched. */
async function countingListener(): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  return { url: `postgresql://postgres:s3cret-pw@127.0.0.1:${port}/cartwheel`, connections: () => connections };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const pkcs8 = (key: { export(o: { type: "pkcs8"; format: "pem" }): string | Buffer }) => String(key.export({ type: "pkcs8", format: "pem" }));
const BAD_KEYS = {
  RSA: pkcs8(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey),
  "P-384": pkcs8(generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey),
  garbage: "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbCwganVzdCB0ZXh0IHRoYXQgbG9va3MgbGlrZSBvbmU=\n-----END PRIVATE KEY-----",
  // JSON.parse would quote this text (the private "d") in its message.
  "broken JWK": '{"kty":"EC","crv":"P-256","d":"c2VjcmV0LXByaXZhdGUtc2NhbGFy","x":undefined}',
};
/** A piece of the key that must never be printed. */
const materialOf = (key: string) => (key.startsWith("{") ? "bGFy" : key.split("\n")[1]!.slice(0, 40));

describe("a wrong signing key", () => {
  for (const [kind, key] of Object.entries(BAD_KEYS)) {
    it(`(${kind}) stops the start before the database is touched: one line naming JWT_PRIVATE_KEY, exit 78`, async () => {
      const db = await countingListener();
      // A long retry window: had the database come first, this would hang instead of exiting.
      const result = await run({ DATABASE_URL: db.url, DATABASE_CONNECT_TIMEOUT: "60s", JWT_PRIVATE_KEY: key }, 30_000);
      expect(result.code).toBe(78);
      const line = expectOneLine(result, [materialOf(key), "s3cret-pw"]);
      expect(line).toMatch(/JWT_PRIVATE_KEY/);
      if (kind === "RSA" || kind === "P-384") expect(line).toMatch(/ES256 \(P-256\) or EdDSA/);
      expect(db.connections()).toBe(0);
    });
  }
});

describe("the database at start", () => {
  it("unreachable: retries for DATABASE_CONNECT_TIMEOUT, then one line naming DATABASE_URL without its password, exit 69", async () => {
    const port = await closedPort();
    const started = Date.now();
    const result = await run({ DATABASE_URL: `postgresql://postgres:s3cret-pw@127.0.0.1:${port}/cartwheel`, DATABASE_CONNECT_TIMEOUT: "2s" });
    const took = Date.now() - started;
    expect(result.code).toBe(69);
    const line = expectOneLine(result, ["s3cret-pw"]);
    expect(line).toMatch(new RegExp(`DATABASE_URL postgresql://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${port}/cartwheel is unreachable`));
    expect(line).toMatch(/DATABASE_CONNECT_TIMEOUT/);
    expect(took).toBeGreaterThanOrEqual(2_000);
  });

  it("coming up during the retry window: the server starts once it answers", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const port = await closedPort();
    const target = new URL(db.url);
    const url = new URL(db.url);
    url.port = String(port);
    const main = spawnMain({ ...BASE, DATABASE_URL: url.toString(), DATA_DIR: dir.path, DATABASE_CONNECT_TIMEOUT: "60s" });
    await main.waitForLog((l) => l.msg === "database not reachable yet, retrying", 30_000);
    // Now PostgreSQL "comes up" on that port: a TCP proxy to the real one.
    const proxy = createServer((client: Socket) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(port, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => proxy.close(() => r())));
    await main.waitForLog((l) => String(l.msg).startsWith("Cartwheel listening on"), 30_000);
    main.child.kill("SIGTERM");
    expect(await main.exited()).toBe(0);
    expect(main.stderr()).toBe("");
  }, 90_000);

  it("missing database: refused at once, one line naming DATABASE_URL, exit 78", async () => {
    const db = new URL((await createTestDatabase().then((d) => (cleanups.push(() => d.drop()), d))).url);
    db.pathname = "/cw_does_not_exist";
    const result = await run({ DATABASE_URL: db.toString(), DATABASE_CONNECT_TIMEOUT: "60s" }, 30_000);
    expect(result.code).toBe(78);
    expect(expectOneLine(result)).toMatch(/^DATABASE_URL .*cw_does_not_exist refused the connection: database "cw_does_not_exist" does not exist$/);
  });

  it("a migration that cannot be applied: one line, exit 65", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query(`UPDATE "_prisma_migrations" SET checksum = 'tampered' WHERE id = (SELECT id FROM "_prisma_migrations" ORDER BY migration_name LIMIT 1) RETURNING migration_name`);
    await client.end();
    const result = await run({ DATABASE_URL: db.url });
    expect(result.code).toBe(65);
    expect(expectOneLine(result)).toBe(
      `migrations could not be applied to DATABASE_URL ${db.url}: migration ${rows[0].migration_name} was modified after it was applied (checksum differs)`,
    );
  });
});

describe("other start-up failures", () => {
  it("invalid settings: one line listing each, exit 78", async () => {
    const result = await run({ PORT: "eighty", SHUTDOWN_DELAY: "soon" });
    expect(result.code).toBe(78);
    const line = expectOneLine(result);
    expect(line).toMatch(/^Invalid configuration: PORT must be .*; SHUTDOWN_DELAY must be /);
  });

  it("a REDIS_URL of the Sentinel or Cluster form that is wrong: one line saying what is wrong, without its passwords, exit 78", async () => {
    const cluster = await run({ REDIS_URL: "redis+cluster://:cluster-s3cret@n1:7000,n2:7001/2" });
    expect(cluster.code).toBe(78);
    expect(expectOneLine(cluster, ["cluster-s3cret"])).toMatch(/^Invalid configuration: REDIS_URL redis\+cluster:\/\/ names no master or database/);
    const sentinel = await run({ REDIS_URL: "redis+sentinel://:node-s3cret@s1:26379?sentinel_password=sentinel-s3cret" });
    expect(sentinel.code).toBe(78);
    expect(expectOneLine(sentinel, ["node-s3cret", "sentinel-s3cret"])).toMatch(/^Invalid configuration: REDIS_URL redis\+sentinel:\/\/ needs the master's name/);
  });

  it("anything else (here a missing PARTNERS_FILE): one line, exit 70", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const result = await run({ DATABASE_URL: db.url, PARTNERS_FILE: `${dir.path}/no-such-partners.json` });
    expect(result.code).toBe(70);
    expect(expectOneLine(result)).toMatch(/^Start-up failed: PARTNERS_FILE .*no-such-partners\.json: ENOENT/);
  });

  // The API port and the metrics listener fail the same way, with the same line.
  it.each(["PORT", "METRICS_PORT"])("%s in use: one line naming PORT, HOST and METRICS_PORT, exit 78", async (setting) => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as { port: number }).port;
    const result = await run({ DATABASE_URL: db.url, [setting]: String(port) });
    expect(result.code).toBe(78);
    expect(expectOneLine(result)).toBe(`Cannot listen on 127.0.0.1:${port} (EADDRINUSE): check PORT, HOST and METRICS_PORT`);
  });
});

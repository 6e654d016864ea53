// `npm run bench`: the catalog's hot paths on the compiled server in its own process, on
// PostgreSQL, with the response cache off and on. Shapes: flat = products(first: 50, orderBy
// CREATED_AT ASC) with category and stock; nested = every category (50) x products(first: 20).
// Data: bench/load-catalog.sql (10,000 products, 50 categories, stock and ledger), loaded after the
// server has migrated the database. Prints a markdown table per (shape, cache): req/s, p50, p99,
// the server's CPU ms per request, SQL statements, rows read and rows returned per request.
// Asserts only that each shape answers correctly (checked once, before measuring).
//
// Knobs (environment):
//   BENCH_DATABASE_URL  unset: a fresh database cw_bench_<random> on postgresql://postgres@127.0.0.1:5432,
//                       dropped at the end (also on failure or Ctrl-C). A URL: that database, which
//                       must be a scratch one (its catalog is replaced; other sessions on it are
//                       terminated while rows read are counted). "embedded": the embedded PGlite,
//                       loaded here before the servers start (no rows-read figures; the database's
//                       work then runs inside the server process and counts in its CPU).
//   BENCH_REDIS_URL     unset: a private redis-server on a free port. A URL: that Redis (a unique
//                       REDIS_PREFIX per server). "off": no Redis (in-process pub/sub).
//   BENCH_CONCURRENCY   connections kept busy (default 50, like the peer rig's wrk -c50)
//   BENCH_DURATION      seconds measured per (round, shape, cache) (default 8)
//   BENCH_WARMUP        seconds of unmeasured load before each of those (default 2)
//   BENCH_ROUNDS        rounds, interleaved: for each round, each shape, each cache mode (default 2)
//   BENCH_ROWS_REQUESTS sequential requests per (shape, cache) for rows read (default 100; 0 skips)
//   BENCH_SHAPES        default "flat,nested";  BENCH_CACHE  default "off,on"
//   BENCH_OUT           also write the report (markdown) to this file
//   GRAPHQL_EXECUTOR    passed to the servers when set (jit | graphql-js) and printed with the figures
// Cache modes: two servers, one started with RESPONSE_CACHE=false ("cache off"), one without it
// (the server's default, "cache on"). A server that does not know RESPONSE_CACHE ignores it.
// The whole run takes about 2 minutes with the defaults. Traffic goes to 127.0.0.1 only.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SHAPES, type Shape } from "./catalog-shapes.ts";
import { flushedTableReads, loadEmbedded, loadPostgres, postgresTarget, postgresVersion, readsBetween } from "./catalog-db.ts";
import { keepAliveAgent, percentile, post, runLoad, type LoadResult } from "./load.ts";
import { ensureBuild, ROOT, startRedis, startServer, type ServerProcess } from "./server-process.ts";

type Cache = "off" | "on";
const env = process.env;
const num = (name: string, fallback: number) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0 (got "${env[name]}")`);
  return value;
};
const list = <T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] => {
  const items = (env[name] ?? fallback).split(",").map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((i) => !allowed.includes(i as T));
  if (bad.length || !items.length) throw new Error(`${name} may list ${allowed.join(", ")} (got "${env[name]}")`);
  return items as T[];
};
const knobs = {
  concurrency: Math.max(1, num("BENCH_CONCURRENCY", 50)),
  duration: num("BENCH_DURATION", 8),
  warmup: num("BENCH_WARMUP", 2),
  rounds: Math.max(1, num("BENCH_ROUNDS", 2)),
  rowsRequests: num("BENCH_ROWS_REQUESTS", 100),
  shapes: list("BENCH_SHAPES", "flat,nested", ["flat", "nested"] as const),
  caches: list("BENCH_CACHE", "off,on", ["off", "on"] as const),
  executor: env.GRAPHQL_EXECUTOR?.trim() || undefined,
  database: env.BENCH_DATABASE_URL?.trim() || undefined,
  redis: env.BENCH_REDIS_URL?.trim() || undefined,
};
const embedded = knobs.database === "embedded";
const shapes = SHAPES.filter((s) => knobs.shapes.includes(s.name));

// Disposers, run once in reverse order: at the end, on a failure, or on Ctrl-C / SIGTERM.
const disposers: (() => Promise<void>)[] = [];
let disposing: Promise<void> | undefined;
const dispose = () =>
  (disposing ??= (async () => {
    // pop(), not a loop over a copy: what main() still starts meanwhile (on Ctrl-C) is disposed of too.
    while (disposers.length) await disposers.pop()!().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
  })());
// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal and relayed by tsx), and a
// second signal falling through to Node's default handler would exit before the database is dropped.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (disposing) return;
    console.error(`\n${signal}: stopping the servers and dropping the bench database`);
    void dispose().finally(() => process.exit(130));
  });
}

interface Round {
  load: LoadResult;
  cpuMs: number;
  sql: number;
  clientCpuMs: number;
  /** 1-minute load average when the round ended: other work on the machine shows here. */
  loadAverage: number;
}
interface Row {
  shape: Shape;
  cache: Cache;
  server: ServerProcess;
  body: string;
  rowsReturned: number;
  rowsRead?: { perRequest: number; tables: string; background: number; errors: number };
  rounds: Round[];
}

try {
  await main();
} catch (error) {
  // After Ctrl-C, main() fails on what is being taken away: not worth a stack trace.
  if (!disposing) console.error((error as Error).stack ?? error);
  process.exitCode = 1;
} finally {
  await dispose();
}

async function main() {
  const build = ensureBuild();
  let databaseUrl: string | undefined;
  let databaseLabel: string;
  if (embedded) {
    databaseLabel = "embedded PGlite";
  } else {
    const target = await postgresTarget(knobs.database);
    disposers.push(target.drop);
    databaseUrl = target.url;
    databaseLabel = `PostgreSQL ${await postgresVersion(databaseUrl)} (${knobs.database ? "BENCH_DATABASE_URL" : `fresh database ${new URL(databaseUrl).pathname.slice(1)}, dropped at the end`})`;
  }
  let redisUrl = knobs.redis === "off" ? undefined : knobs.redis;
  if (knobs.redis === undefined) {
    const redis = await startRedis();
    disposers.push(redis.stop);
    redisUrl = redis.url;
  }

  const jwt = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const run = randomBytes(4).toString("hex");
  const dataDirs = knobs.caches.map((cache) => {
    const dir = mkdtempSync(join(tmpdir(), `cartwheel-bench-${cache}-`));
    disposers.push(async () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
  if (embedded) await loadEmbedded(dataDirs);
  const servers = new Map<Cache, ServerProcess>();
  for (const [i, cache] of knobs.caches.entries()) {
    const server = await startServer({
      NODE_ENV: "production",
      JWT_PRIVATE_KEY: jwt,
      SEED_DEMO: "false",
      LOG_LEVEL: "warn",
      SHUTDOWN_DELAY: "0",
      DATA_DIR: dataDirs[i]!,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_PREFIX: `cw-bench-${run}-${cache}:` } : {}),
      ...(cache === "off" ? { RESPONSE_CACHE: "false" } : {}),
      ...(knobs.executor ? { GRAPHQL_EXECUTOR: knobs.executor } : {}),
    });
    disposers.push(async () => {
      await server.stop();
      const output = server.output().trim();
      if (output) console.error(`server (cache ${cache}) wrote:\n${output.split("\n").slice(-20).join("\n")}`);
    });
    servers.set(cache, server);
    // The first server has migrated the database: load the catalog before anyone reads it.
    if (i === 0 && databaseUrl) await loadPostgres(databaseUrl);
  }

  const agent = keepAliveAgent(knobs.concurrency);
  disposers.push(async () => agent.destroy());
  const rows: Row[] = [];
  for (const shape of shapes) {
    for (const cache of knobs.caches) {
      const server = servers.get(cache)!;
      const body = JSON.stringify({ query: shape.query });
      rows.push({ shape, cache, server, body, rowsReturned: await checkOnce(server, shape, cache, agent, body), rounds: [] });
    }
  }
  const header = [
    `# npm run bench: catalog hot paths`,
    ``,
    `${commit()}; ${databaseLabel}; Redis ${knobs.redis === "off" ? "off" : knobs.redis ? "BENCH_REDIS_URL" : "private redis-server"}; ` +
      `GRAPHQL_EXECUTOR ${knobs.executor ?? "unset (server default)"}; server dist/src/main.js (${build}), NODE_ENV=production, node ${process.version}; ` +
      `${knobs.concurrency} connections, ${knobs.rounds} round(s) x ${knobs.duration} s (+${knobs.warmup} s warm-up) per shape and cache mode; ` +
      `10,000 products in 50 categories; answers checked: ${rows.map((r) => `${r.shape.name}/${r.cache} ok`).join(", ")}`,
  ];
  console.log(header.join("\n"));

  if (databaseUrl && knobs.rowsRequests > 0) {
    for (const row of rows) row.rowsRead = await rowsRead(databaseUrl, row, agent);
  }
  for (let round = 1; round <= knobs.rounds; round++) {
    for (const shape of shapes) {
      for (const cache of knobs.caches) {
        const row = rows.find((r) => r.shape === shape && r.cache === cache)!;
        const url = new URL(row.server.url);
        if (knobs.warmup > 0) await runLoad(url, row.body, knobs.concurrency, knobs.warmup, agent);
        const [cpu0, sql0, client0] = [row.server.cpuMs(), await row.server.sqlStatements(), process.cpuUsage()];
        const load = await runLoad(url, row.body, knobs.concurrency, knobs.duration, agent);
        const client = process.cpuUsage(client0);
        const [cpu1, sql1] = [row.server.cpuMs(), await row.server.sqlStatements()];
        row.rounds.push({ load, cpuMs: cpu1 - cpu0, sql: sql1 - sql0, clientCpuMs: (client.user + client.system) / 1000, loadAverage: loadavg()[0]! });
        console.error(
          `[round ${round}] ${shape.name} cache ${cache}: ${load.perSecond.toFixed(0)} req/s, p99 ${percentile(load.latencies, 99).toFixed(1)} ms, ` +
            `${load.errors} errors, load ${loadavg()[0]!.toFixed(2)}`,
        );
      }
    }
  }
  const report = header.concat("", ...table(rows)).join("\n") + "\n";
  console.log(table(rows).join("\n"));
  if (env.BENCH_OUT) writeFileSync(env.BENCH_OUT, report);
}

/** One request, every value checked (catalog-shapes.ts); returns the rows it returned. Throws on a wrong answer. */
async function checkOnce(server: ServerProcess, shape: Shape, cache: Cache, agent: ReturnType<typeof keepAliveAgent>, body: string): Promise<number> {
  const answer = await post(agent, new URL(server.url), body);
  const json = JSON.parse(answer.body) as { data?: unknown; errors?: unknown };
  if (answer.status !== 200 || json.errors || !json.data) throw new Error(`${shape.name} (cache ${cache}) answered HTTP ${answer.status}: ${answer.body.slice(0, 500)}`);
  try {
    return shape.check(json.data);
  } catch (error) {
    throw new Error(`${shape.name} (cache ${cache}) answered wrongly: ${(error as Error).message}`);
  }
}

/** Rows read per request over `rowsRequests` sequential requests, between two flushed readings (catalog-db.ts). */
async function rowsRead(databaseUrl: string, row: Row, agent: ReturnType<typeof keepAliveAgent>): Promise<NonNullable<Row["rowsRead"]>> {
  const url = new URL(row.server.url);
  const n = knobs.rowsRequests;
  const before = await flushedTableReads(databaseUrl);
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const answer = await post(agent, url, row.body).catch(() => undefined);
    if (!answer || answer.status !== 200 || answer.body.includes('"errors"')) errors += 1;
  }
  const { catalog, background } = readsBetween(before, await flushedTableReads(databaseUrl));
  const total = catalog.reduce((sum, [, d]) => sum + d, 0);
  const tables = catalog.map(([table, d]) => `${table} ${fmt(d / n, 1)}`).join(", ") || "none";
  return { perRequest: total / n, tables, background: background / n, errors };
}

function table(rows: Row[]): string[] {
  const lines = [
    `| shape | cache | req/s | req/s per round | p50 ms | p99 ms | CPU ms/req | SQL/req | rows read/req | rows returned/req | read ÷ returned | errors |`,
    `|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|`,
  ];
  const notes: string[] = [];
  for (const row of rows) {
    const requests = row.rounds.reduce((n, r) => n + r.load.latencies.length, 0);
    const latencies = row.rounds.flatMap((r) => r.load.latencies).sort((a, b) => a - b);
    const rates = row.rounds.map((r) => r.load.perSecond);
    const sum = (f: (r: Round) => number) => row.rounds.reduce((n, r) => n + f(r), 0);
    const read = row.rowsRead?.perRequest;
    const spread = rates.length > 1 ? ` (±${fmt(((Math.max(...rates) - Math.min(...rates)) / 2 / mean(rates)) * 100, 0)}%)` : "";
    lines.push(
      `| ${row.shape.name} | cache ${row.cache} | ${fmt(mean(rates), 0)} | ${rates.map((r) => fmt(r, 0)).join(" / ")}${spread} | ${fmt(percentile(latencies, 50), 1)} | ${fmt(percentile(latencies, 99), 1)} | ` +
        `${fmt(sum((r) => r.cpuMs) / requests, 2)} | ${fmt(sum((r) => r.sql) / requests, 2)} | ${read === undefined ? "-" : fmt(read, 1)} | ${row.rowsReturned} | ` +
        `${read === undefined ? "-" : fmt(read / row.rowsReturned, 2)} | ${sum((r) => r.load.errors)}${row.rowsRead?.errors ? ` (+${row.rowsRead.errors} in the rows batch)` : ""} |`,
    );
    const firstError = row.rounds.find((r) => r.load.firstError)?.load.firstError;
    if (firstError) notes.push(`- ${row.shape.name} cache ${row.cache}: first error: ${firstError}`);
    if (row.rowsRead) notes.push(`- ${row.shape.name} cache ${row.cache}: rows read/req by table: ${row.rowsRead.tables} (outbox tables, background, not counted: ${fmt(row.rowsRead.background, 2)})`);
    notes.push(`- ${row.shape.name} cache ${row.cache}: load generator CPU ${fmt(sum((r) => r.clientCpuMs) / requests, 2)} ms/req; ${requests} requests measured`);
  }
  for (const shape of new Set(rows.map((r) => r.shape.name))) {
    const [off, on] = (["off", "on"] as const).map((c) => rows.find((r) => r.shape.name === shape && r.cache === c));
    if (!off || !on) continue;
    const ratios = off.rounds.map((r, i) => (on.rounds[i]?.load.perSecond ?? Number.NaN) / r.load.perSecond);
    notes.push(`- ${shape}: req/s cache on ÷ cache off, same round: ${ratios.map((r) => `${fmt(r, 2)}x`).join(" / ")}`);
  }
  const loads = rows.flatMap((r) => r.rounds.map((x) => x.loadAverage));
  notes.push(`- 1-minute load average during the rounds: ${fmt(Math.min(...loads), 2)} to ${fmt(Math.max(...loads), 2)} on ${cpus().length} cores (above the cores: other work competed with the bench)`);
  return [...lines, "", ...notes];
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

function commit(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--untracked-files=no") ? "+changes" : "";
    return `commit ${git("rev-parse", "--short", "HEAD")}${dirty} (${git("rev-parse", "--abbrev-ref", "HEAD")})`;
  } catch {
    return "commit unknown";
  }
}

// The benchmark's database: a fresh PostgreSQL database (or the one BENCH_DATABASE_URL names, or
// the embedded PGlite), the catalog of load-catalog.sql, and the table counters that give "rows
// read per request".
import { randomBytes } from "node:crypto";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { openDatabase } from "../src/db/client.ts";
import { applyMigrations } from "../src/db/migrate.ts";

const LOAD_SQL = readFileSync(new URL("./load-catalog.sql", import.meta.url), "utf8");
/** The maintenance database used to create and drop the bench's own database. */
const ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

export interface PostgresTarget {
  url: string;
  /** Drops the database when the bench created it; a no-op for BENCH_DATABASE_URL. Never throws. */
  drop(): Promise<void>;
}

/**
 * `given` (BENCH_DATABASE_URL, used as is: a scratch database, its catalog is replaced) or a new
 * database cw_bench_<random> on the shared server, which `drop()` removes (WITH FORCE, so the
 * servers' pooled connections do not keep it alive).
 */
export async function postgresTarget(given: string | undefined): Promise<PostgresTarget> {
  if (given) return { url: given, drop: async () => {} };
  const name = `cw_bench_${randomBytes(5).toString("hex")}`;
  await admin(`CREATE DATABASE ${name}`);
  return {
    url: `postgresql://postgres@127.0.0.1:5432/${name}`,
    async drop() {
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((error: unknown) => {
        console.error(`could not drop database ${name}: ${(error as Error).message}`);
      });
    },
  };
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Loads the catalog into a database the server has already migrated. */
export async function loadPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(LOAD_SQL);
    await verify((text) => client.query(text).then((r) => r.rows));
  } finally {
    await client.end();
  }
}

/**
 * The embedded default: migrates and loads `dataDirs[0]` here (PGlite is one process at a time, so
 * before any server opens it), then copies it to the other directories (one per server).
 */
export async function loadEmbedded(dataDirs: string[]): Promise<void> {
  const db = await openDatabase({ dataDir: dataDirs[0]!, owner: "the benchmark loader" });
  try {
    await applyMigrations(db.sql);
    await db.sql.withConnection((conn) => conn.exec(LOAD_SQL));
    await verify((text) => db.sql.query(text));
  } finally {
    await db.close();
  }
  for (const dir of dataDirs.slice(1)) cpSync(join(dataDirs[0]!, "pglite"), join(dir, "pglite"), { recursive: true });
}

async function verify(query: (text: string) => Promise<Record<string, unknown>[]>): Promise<void> {
  const [row] = await query(`SELECT (SELECT count(*) FROM categories)::int AS categories,
      (SELECT count(*) FROM products WHERE status = 'ACTIVE')::int AS products,
      (SELECT count(*) FROM stock_levels s LEFT JOIN (SELECT product_id, sum(delta) AS d FROM stock_movements GROUP BY 1) m
         USING (product_id) WHERE s.on_hand <> coalesce(m.d, 0))::int AS mismatches`);
  if (row?.categories !== 50 || row.products !== 10_000 || row.mismatches !== 0) throw new Error(`catalog not loaded as expected: ${JSON.stringify(row)}`);
}

/** Tuples read per table: seq_tup_read + idx_tup_fetch from pg_stat_user_tables. */
export type TableReads = Map<string, number>;

/**
 * Reads the table counters of the bench database after making every other backend on it flush
 * its pending counts. A backend flushes at a transaction end at most once a second, and when it
 * goes idle only ~10 s later (PostgreSQL 15's PGSTAT_IDLE_INTERVAL); pg_stat_force_next_flush()
 * only acts on the calling backend, not on the servers' pooled connections. A backend does flush
 * when it exits, so the servers' connections to this database are terminated (pg_terminate_backend;
 * their pools open new ones on the next query) and their exit awaited, bounded by 5 s.
 */
export async function flushedTableReads(url: string): Promise<TableReads> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const others = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`;
    await client.query(`SELECT pg_terminate_backend(pid) FROM (${others}) o`);
    for (let waited = 0; waited < 5_000; waited += 50) {
      if ((await client.query(others)).rowCount === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Each statement outside a transaction sees a fresh statistics snapshot.
    const { rows } = await client.query<{ relname: string; n: string }>(
      `SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_user_tables`,
    );
    return new Map(rows.map((r) => [r.relname, Number(r.n)]));
  } finally {
    await client.end();
  }
}

/**
 * Per-table differences, largest first. The outbox tables are listed apart: every server reads them
 * a few times a second in the background (relay lease, head), whatever the traffic.
 */
export function readsBetween(before: TableReads, after: TableReads): { catalog: [string, number][]; background: number } {
  const catalog: [string, number][] = [];
  let background = 0;
  for (const [table, n] of after) {
    const delta = n - (before.get(table) ?? 0);
    if (delta === 0) continue;
    if (table.startsWith("outbox_")) background += delta;
    else catalog.push([table, delta]);
  }
  return { catalog: catalog.sort((a, b) => b[1] - a[1]), background };
}

export async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return String((await client.query("SHOW server_version")).rows[0]!.server_version);
  } finally {
    await client.end();
  }
}

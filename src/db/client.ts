import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import pg from "pg";
import { PrismaClient, type Prisma as PrismaNS } from "../generated/prisma/client.ts";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { sha256Hex } from "../lib/hash.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import type { SqlRunner } from "./sql-runner.ts";

export type Prisma = PrismaClient;
/** The client a service receives inside `db.transaction` (same API minus connection control). */
export type Tx = PrismaNS.TransactionClient;

export interface Database {
  readonly kind: "postgres" | "pglite";
  readonly prisma: PrismaClient;
  /** Raw SQL for the migration applier and readiness checks (bypasses Prisma). */
  readonly sql: SqlRunner;
  /**
   * One read-only statement straight on the driver, bypassing Prisma's query layer: for the hot
   * catalog reads that build their own SQL (modules/catalog/catalog.sql.ts). Counted like Prisma's.
   */
  read<T = Record<string, unknown>>(text: string, values: readonly unknown[]): Promise<T[]>;
  /** Statements sent since start (Prisma's and `read`'s); read by /metrics and by tests counting N+1. */
  statementCount(): number;
  /** The connection pool for /metrics: connections open, in use, requests waiting for one, the maximum. PGlite has none (one in-process connection). */
  poolStats(): { total: number; inUse: number; waiting: number; max: number } | undefined;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; when absent the embedded PGlite database under `dataDir` is used. */
  url?: string | undefined;
  dataDir: string;
  /** Pool size for PostgreSQL (default 10). */
  poolSize?: number;
  /** How long a query waits for a pooled connection before it fails (default 5 s). */
  poolTimeoutMs?: number;
  /**
   * Whether `read` may use named (prepared) statements (default true). Off behind a pooler that
   * does not keep them per client (PgBouncer in transaction mode before 1.21, Supavisor).
   */
  preparedStatements?: boolean;
  /**
   * Who opens the embedded database, named to any other process that finds `dataDir` locked
   * (default "a Cartwheel process"). Unused with PostgreSQL, which needs no lock.
   */
  owner?: string;
}

/** Opens the database. The embedded one is locked to this process: throws DataDirLockedError if another holds it. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url
    ? openPostgres(options.url, options.poolSize ?? 10, options.poolTimeoutMs ?? 5_000, options.preparedStatements ?? true)
    : openPglite(options.dataDir, options.owner ?? "a Cartwheel process");
}

/**
 * The Prisma client, counting the statements it sends at the driver adapter (each query, COMMIT
 * and ROLLBACK included, as Prisma's query log counts them; not BEGIN). Prisma's query-log event did the same
 * at a cost of about a fifth of a simple request's CPU; a counter on the adapter costs nothing.
 */
function countingClient(adapter: PrismaPg | PrismaPGlite) {
  let statements = 0;
  const count = () => {
    statements += 1;
  };
  const prisma = new PrismaClient({ adapter: counting(adapter, count) });
  return { prisma, count, statementCount: () => statements };
}

// Prisma sends COMMIT and ROLLBACK through executeRaw (then calls commit()/rollback() to release).
const COUNTED = new Set<PropertyKey>(["queryRaw", "executeRaw"]);
const WRAPPED = new Set<PropertyKey>(["connect", "startTransaction"]);

/** `target` (an adapter factory, adapter or transaction) with `count` called on every statement it sends. */
function counting<T extends object>(target: T, count: () => void): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (COUNTED.has(property)) {
        return (...args: unknown[]) => {
          count();
          return method.apply(object, args);
        };
      }
      // The adapter a factory connects and the transactions an adapter starts count too.
      if (WRAPPED.has(property)) return async (...args: unknown[]) => counting((await method.apply(object, args)) as object, count);
      return method.bind(object);
    },
  });
}

/** Distinct `read` texts a connection may keep prepared (each costs the backend its plan's memory). */
const MAX_PREPARED_TEXTS = 64;

/**
 * Which `read` texts run as named (prepared) statements: planned once per connection, instead of
 * on every request (planning cost as much as executing a catalog page). pg keeps a connection's
 * prepared statements for good, so admission is bounded and final: a text seen a second time is
 * admitted while fewer than `max` are, and stays; every other text runs unnamed, as before.
 */
export class PreparedTexts {
  private readonly names = new Map<string, string>();
  /** Texts seen once, by hash (a nested selection's text can be long). */
  private readonly seen = new BoundedCache<true>(1_000, 64);

  constructor(private readonly max: number) {}

  nameOf(text: string): string | undefined {
    if (this.max === 0) return undefined;
    const name = this.names.get(text);
    if (name || this.names.size >= this.max) return name;
    const hash = `cw_${sha256Hex(text).slice(0, 32)}`;
    if (!this.seen.get(hash)) {
      this.seen.set(hash, true);
      return undefined;
    }
    this.names.set(text, hash);
    return hash;
  }
}

async function openPostgres(url: string, poolSize: number, poolTimeoutMs: number, preparedStatements: boolean): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: poolTimeoutMs });
  // An idle client losing its connection must not crash the process; readiness reports it.
  pool.on("error", () => {});
  const { prisma, count, statementCount } = countingClient(new PrismaPg(pool));
  const prepared = new PreparedTexts(preparedStatements ? MAX_PREPARED_TEXTS : 0);
  const sql: SqlRunner = {
    async query(text, params) {
      const result = await pool.query(text, params as unknown[]);
      return result.rows;
    },
    async withConnection(fn) {
      const client = await pool.connect();
      try {
        return await fn({
          query: async (text, params) => (await client.query(text, params as unknown[])).rows,
          exec: async (text) => {
            await client.query(text);
          },
        });
      } finally {
        client.release();
      }
    },
  };
  return {
    kind: "postgres",
    prisma,
    sql,
    async read<T>(text: string, values: readonly unknown[]) {
      count();
      const name = prepared.nameOf(text);
      return (await pool.query(name ? { name, text, values: values as unknown[] } : { text, values: values as unknown[] })).rows as T[];
    },
    statementCount,
    poolStats: () => ({ total: pool.totalCount, inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount, max: poolSize }),
    async ping() {
      await pool.query("SELECT 1");
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string, owner: string): Promise<Database> {
  const dir = join(dataDir, "pglite");
  mkdirSync(dir, { recursive: true });
  const lock = lockDataDir(dataDir, owner);
  let client: PGlite;
  try {
    client = await PGlite.create(dir);
  } catch (error) {
    lock.release();
    throw error;
  }
  const { prisma, count, statementCount } = countingClient(new PrismaPGlite(client));
  const conn = {
    query: async (text: string, params?: readonly unknown[]) =>
      (await client.query<Record<string, unknown>>(text, params as unknown[])).rows,
    exec: async (text: string) => {
      await client.exec(text);
    },
  };
  return {
    kind: "pglite",
    prisma,
    sql: { query: conn.query, withConnection: (fn) => fn(conn) },
    async read<T>(text: string, values: readonly unknown[]) {
      count();
      return (await client.query<T>(text, values as unknown[])).rows;
    },
    statementCount,
    poolStats: () => undefined,
    async ping() {
      await client.query("SELECT 1");
    },
    async close() {
      try {
        await prisma.$disconnect();
        await client.close();
      } finally {
        lock.release();
      }
    },
  };
}

import { randomUUID } from "node:crypto";
import { sha256Hex } from "../lib/hash.ts";
import { readdir, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlConnection, SqlRunner } from "./sql-runner.ts";

/**
 * Applies prisma/migrations the way `prisma migrate deploy` does, without the native schema engine:
 * in name order, each in its own transaction, under a session advisory lock (so several instances
 * starting at once apply each migration exactly once), recorded in `_prisma_migrations` with the
 * same checksum Prisma uses (sha256 of migration.sql). Refuses to run when an applied migration's
 * file has changed or an earlier attempt failed, instead of guessing.
 */
export const DEFAULT_MIGRATIONS_DIR = findMigrationsDir(fileURLToPath(new URL("../../prisma/migrations/", import.meta.url)));

/**
 * `beside` is prisma/migrations next to src/: right when running from source, and in the Docker
 * image, which copies them into dist/. A plain `tsc` build (dist/src/db/migrate.js) does not copy
 * them, so the directories above are tried up to the package root (the first one holding a
 * package.json). Nothing found: `beside`, and readMigrations' ENOENT names it.
 */
function findMigrationsDir(beside: string): string {
  if (existsSync(beside)) return beside;
  for (let dir = dirname(dirname(beside)); ; dir = dirname(dir)) {
    const candidate = join(dir, "prisma", "migrations");
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, "package.json")) || dirname(dir) === dir) return beside;
  }
}

// Any constant works; it only has to be the same for every instance of this application.
const LOCK_KEY = 72_707_369;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: sha256Hex(sql) };
    }),
  );
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export class MigrationError extends Error {}

/** Returns the names of the migrations applied by this call (empty when up to date). */
export async function applyMigrations(sql: SqlRunner, dir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  return sql.withConnection(async (conn) => {
    await conn.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    try {
      return await applyLocked(conn, migrations);
    } finally {
      await conn.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
    }
  });
}

async function applyLocked(conn: SqlConnection, migrations: Migration[]): Promise<string[]> {
  await conn.exec(CREATE_TABLE);
  const rows = await conn.query(
    `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
  );
  const applied = new Map(rows.map((r) => [String(r.migration_name), r]));
  const known = new Set(migrations.map((m) => m.name));
  for (const [name, row] of applied) {
    if (row.finished_at == null) {
      throw new MigrationError(`migration ${name} failed or is still running; resolve it before starting`);
    }
    if (!known.has(name)) throw new MigrationError(`database has migration ${name}, which is not in this build`);
  }
  const done: string[] = [];
  for (const m of migrations) {
    const row = applied.get(m.name);
    if (row) {
      if (row.checksum !== m.checksum) {
        throw new MigrationError(`migration ${m.name} was modified after it was applied (checksum differs)`);
      }
      continue;
    }
    await conn.exec("BEGIN");
    try {
      const id = randomUUID();
      await conn.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`,
        [id, m.checksum, m.name],
      );
      await conn.exec(m.sql);
      await conn.query(
        `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
        [id],
      );
      await conn.exec("COMMIT");
    } catch (error) {
      await conn.exec("ROLLBACK");
      throw new MigrationError(`migration ${m.name} failed: ${(error as Error).message}`);
    }
    done.push(m.name);
  }
  return done;
}

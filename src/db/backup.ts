// Backups of the embedded database (PGlite under `<DATA_DIR>/pglite`), in PGlite's own format:
// `dumpDataDir("gzip")` writes the whole data directory as a gzipped tar, and `loadDataDir`
// opens a new data directory from one. That is a physical copy: it opens only with a PGlite of
// the same PostgreSQL major version (the export's `PG_VERSION`), which the import checks.
//
// Both hold the DATA_DIR lock for their whole run, so while a server (or any other opener) has
// the database open they refuse with DataDirLockedError (exit 75) and touch nothing: a second
// PGlite on the same directory is the silent-data-loss case the lock exists for, and a copy of
// files being written is no backup. Stopping the server for the few seconds an export takes is
// the price of PGlite being single-process; PostgreSQL deployments back up with pg_dump online.
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { PGlite } from "@electric-sql/pglite";
import { lockDataDir } from "./data-dir-lock.ts";
import { BackupError } from "./backup-error.ts";
import { readMigrations } from "./migrate.ts";

export { BackupError };

const DATABASE_DIR = "pglite";
/** Where an import builds the new database before it swaps it in; inside DATA_DIR, so the rename stays on one filesystem. */
const STAGING_DIR = "pglite.importing";
/** Where the replaced database waits while the new one is renamed into place. */
const REPLACED_DIR = "pglite.replaced";

export interface ExportOptions {
  /** Overwrite `file` if it exists (default false: refuse with exit 73). */
  force?: boolean;
}

export interface ExportResult {
  bytes: number;
}

/**
 * Writes the embedded database under `dataDir` to `file` (gzipped tar, mode 0600: it holds
 * password and session hashes). The file appears whole or not at all: it is written beside
 * itself as `<file>.partial` and renamed. Throws BackupError when there is no database or the
 * file exists (without `force`), DataDirLockedError while another process has the database open.
 */
export async function exportEmbedded(dataDir: string, file: string, options: ExportOptions = {}): Promise<ExportResult> {
  if (!options.force && existsSync(file)) throw new BackupError(`${file} already exists: choose another name, or pass --force to overwrite it`, 73);
  const dir = join(dataDir, DATABASE_DIR);
  if (!existsSync(join(dir, "PG_VERSION"))) throw new BackupError(`DATA_DIR ${dataDir} holds no embedded database (${dir} is missing or empty): nothing to export`, 66);
  const lock = lockDataDir(dataDir, "npm run db:export");
  try {
    const db = await PGlite.create(dir);
    let dump: Blob;
    try {
      dump = await db.dumpDataDir("gzip");
    } finally {
      await db.close();
    }
    const bytes = Buffer.from(await dump.arrayBuffer());
    const partial = `${file}.partial`;
    try {
      // A leftover .partial would keep its own mode through writeFile: start afresh.
      await rm(partial, { force: true });
      await writeFile(partial, bytes, { mode: 0o600 });
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      throw new BackupError(`cannot write ${file}: ${(error as Error).message}`, 73);
    }
    return { bytes: bytes.length };
  } finally {
    lock.release();
  }
}

export interface ImportOptions {
  /** Replace a database already under `dataDir` (default false: refuse with exit 73). */
  replace?: boolean;
}

export interface ImportResult {
  /** Whether a database was there before (and is now gone). */
  replaced: boolean;
  /** The export's migrations; pending ones of this build are applied when the server starts. */
  migrations: number;
  /** Rows of the main tables, for the operator to check against what they expect. */
  counts: Record<string, number>;
}

const COUNTED_TABLES = ["users", "products", "orders"] as const;

/**
 * Restores `file` (a db:export) as the embedded database under `dataDir`. The export is opened
 * and checked in a staging directory first (PGlite can load it; it is a Cartwheel database whose
 * migrations this build knows), and only then renamed into place, so a bad file or a failure
 * midway leaves the current database as it was. A database already there is replaced only with
 * `replace`. Throws BackupError (65 bad file, 66 no file, 73 not empty), DataDirLockedError (75).
 */
export async function importEmbedded(dataDir: string, file: string, options: ImportOptions = {}): Promise<ImportResult> {
  const archive = await readExport(file);
  const version = pgVersionOf(archive);
  if (!version) throw new BackupError(`${file} is not an export of the embedded database (a gzipped tar of a PGlite data directory, as npm run db:export writes)`, 65);
  await mkdir(dataDir, { recursive: true });
  const lock = lockDataDir(dataDir, "npm run db:import");
  const target = join(dataDir, DATABASE_DIR);
  const staging = join(dataDir, STAGING_DIR);
  const replaced = join(dataDir, REPLACED_DIR);
  try {
    if (existsSync(replaced)) {
      throw new BackupError(`an earlier import was interrupted while swapping databases: ${replaced} holds the database it was replacing. Move it back to ${target} (or delete it), then import again`, 73);
    }
    const hasDatabase = existsSync(target) && readdirSync(target).length > 0;
    if (hasDatabase && !options.replace) {
      throw new BackupError(`DATA_DIR ${dataDir} already holds a database (${target}): pass --replace to replace it (its data is lost; export it first), or import into an empty DATA_DIR`, 73);
    }
    // Leftovers of an import that crashed are ours to clear: we hold the lock.
    await rm(staging, { recursive: true, force: true });
    const checked = await loadAndCheck(staging, archive, file, version).catch(async (error: unknown) => {
      await rm(staging, { recursive: true, force: true });
      throw error;
    });
    // Two renames: a crash between them leaves the old database in pglite.replaced, not lost
    // (and the next import refuses until someone has looked at it).
    if (existsSync(target)) await rename(target, replaced);
    await rename(staging, target);
    await rm(replaced, { recursive: true, force: true });
    return { replaced: hasDatabase, ...checked };
  } finally {
    lock.release();
  }
}

async function readExport(file: string): Promise<Buffer> {
  try {
    if (!(await stat(file)).isFile()) throw new BackupError(`${file} is not a file`, 66);
    return await readFile(file);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new BackupError(code === "ENOENT" ? `${file} does not exist` : `cannot read ${file}: ${(error as Error).message}`, 66);
  }
}

/** Opens the export in `staging` and checks it is a Cartwheel database this build can run. */
async function loadAndCheck(staging: string, archive: Buffer, file: string, version: string): Promise<Omit<ImportResult, "replaced">> {
  let db: PGlite;
  try {
    db = await PGlite.create(staging, { loadDataDir: new Blob([new Uint8Array(archive)]) });
  } catch (error) {
    const own = await ownMajorVersion();
    const why =
      own === undefined || own === version
        ? "it is damaged or incomplete"
        : `it was made by PostgreSQL ${version} and this build's PGlite runs PostgreSQL ${own}, which opens only its own major version: import it with the Cartwheel version that made it`;
    throw new BackupError(`${file} could not be opened (${(error as Error).message}): ${why}`, 65);
  }
  try {
    const rows = await db
      .query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" WHERE rolled_back_at IS NULL AND finished_at IS NOT NULL`)
      .catch(() => {
        throw new BackupError(`${file} is a PGlite database, but not a Cartwheel one (it has no _prisma_migrations table)`, 65);
      });
    const known = new Set((await readMigrations()).map((m) => m.name));
    const unknown = rows.rows.map((r) => r.migration_name).filter((name) => !known.has(name));
    if (unknown.length) {
      throw new BackupError(`${file} was made by a newer Cartwheel: it has migration ${unknown.join(", ")}, which this build does not know. Import it with that version`, 65);
    }
    const counts: Record<string, number> = {};
    for (const table of COUNTED_TABLES) {
      const result = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}"`).catch(() => undefined);
      if (result) counts[table] = result.rows[0]!.n;
    }
    return { migrations: rows.rows.length, counts };
  } finally {
    await db.close();
  }
}

/** The PostgreSQL major version of this build's PGlite (an in-memory instance answers), only to explain a failed load. */
async function ownMajorVersion(): Promise<string | undefined> {
  try {
    const db = await PGlite.create();
    try {
      const { rows } = await db.query<{ server_version_num: string }>("SHOW server_version_num");
      return String(Math.floor(Number(rows[0]!.server_version_num) / 10_000));
    } finally {
      await db.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * The `PG_VERSION` recorded in a PGlite export (gzipped or plain tar), or undefined when the file
 * is no such thing. Reads only tar headers (512-byte blocks: name, then size in octal at 124).
 */
export function pgVersionOf(archive: Buffer): string | undefined {
  let tar: Buffer;
  try {
    tar = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  } catch {
    return undefined;
  }
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const name = tar.subarray(offset, offset + 100).toString("latin1").replace(/\0.*$/s, "");
    if (!name) return undefined;
    const size = Number.parseInt(tar.subarray(offset + 124, offset + 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) return undefined;
    if (name.replace(/^\.?\//, "") === "PG_VERSION") {
      const text = tar.subarray(offset + 512, offset + 512 + size).toString("latin1").trim();
      return /^\d+$/.test(text) ? text : undefined;
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

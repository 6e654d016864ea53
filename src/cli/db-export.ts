// `npm run db:export -- <file> [--force]`: writes the embedded database (DATA_DIR) to one file.
import { resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { BackupError } from "../db/backup-error.ts";
import { onePositional, parseCommandLine, runCommand } from "./cli.ts";

const command = {
  name: "npm run db:export --",
  help: `usage: npm run db:export -- <file> [--force]

Writes the embedded database under DATA_DIR (DATA_DIR/pglite) to <file>: PGlite's own dump of
its data directory, a gzipped tar, readable only by its owner (it holds password and session
hashes). The file appears whole or not at all. npm runs scripts in the project directory, so a
relative <file> is taken from there. Restore it with npm run db:import.

The server must be stopped: PGlite is single-process, so while a server (or another command)
has DATA_DIR open this refuses and exits 75, touching nothing. The signing key
(DATA_DIR/jwt-signing-key.pem) is not in the export: keep a copy of it, or set JWT_PRIVATE_KEY.

With DATABASE_URL set (PostgreSQL) this only prints the pg_dump command to use, and exits 64.

  <file>       where to write the export
  --force      overwrite <file> if it exists (default: refuse, exit 73)
  -h, --help   this text

Exit codes: 0 written, 64 usage (or DATABASE_URL set), 66 DATA_DIR has no database,
73 <file> exists or cannot be written, 75 DATA_DIR in use, 78 bad environment.`,
  options: { force: { type: "boolean", default: false } },
  allowPositionals: true,
  whenLocked: "Stop the server, export, and start it again: an export takes a few seconds.",
} as const;

const { values, positionals } = parseCommandLine(command);
await runCommand(command, async () => {
  const file = onePositional(positionals, "file");
  const config = loadConfig();
  if (config.databaseUrl) {
    throw new BackupError(
      `DATABASE_URL is set: db:export backs up only the embedded database. Back up PostgreSQL with pg_dump (of the server's major version or newer), while the server runs:\n` +
        `  pg_dump --format=custom --file=${file} "$DATABASE_URL"\n` +
        `and restore it with pg_restore (see "Backups and restore" in README.md).`,
      64,
    );
  }
  const { bytes } = await (await import("../db/backup.ts")).exportEmbedded(config.dataDir, resolve(file), { force: values.force });
  console.log(`exported ${config.dataDir}/pglite to ${resolve(file)} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);
});

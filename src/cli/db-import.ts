// `npm run db:import -- <file> [--replace]`: restores a db:export as the embedded database (DATA_DIR).
import { resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { BackupError } from "../db/backup-error.ts";
import { onePositional, parseCommandLine, runCommand } from "./cli.ts";

const command = {
  name: "npm run db:import --",
  help: `usage: npm run db:import -- <file> [--replace]

Restores <file>, written by npm run db:export, as the embedded database under DATA_DIR
(DATA_DIR/pglite). The export is opened and checked in DATA_DIR/pglite.importing first (PGlite can
open it; it is a Cartwheel database whose migrations this build knows) and then renamed into
place, so a bad file or a failure midway leaves the current database untouched. Migrations this
build has and the export lacks are applied when the server starts. A relative <file> is taken
from the project directory (where npm runs scripts).

The server must be stopped: while a server (or another command) has DATA_DIR open this refuses
and exits 75, touching nothing.

With DATABASE_URL set (PostgreSQL) this only prints the pg_restore commands to use, and exits 64.

  <file>       the export to restore
  --replace    replace the database DATA_DIR already holds (its data is lost; export it first).
               Default: refuse, exit 73
  -h, --help   this text

Exit codes: 0 restored, 64 usage (or DATABASE_URL set), 65 not a usable export, 66 no such
file, 73 DATA_DIR already holds a database, 75 DATA_DIR in use, 78 bad environment.`,
  options: { replace: { type: "boolean", default: false } },
  allowPositionals: true,
  whenLocked: "Stop the server first, import, then start it again.",
} as const;

const { values, positionals } = parseCommandLine(command);
await runCommand(command, async () => {
  const file = onePositional(positionals, "file");
  const config = loadConfig();
  if (config.databaseUrl) {
    throw new BackupError(
      `DATABASE_URL is set: db:import restores only the embedded database. Restore a pg_dump of PostgreSQL with pg_restore into a new, empty database, then point DATABASE_URL at it:\n` +
        `  createdb cartwheel_restored   (with your usual connection options)\n` +
        `  pg_restore --no-owner --exit-on-error --single-transaction --dbname=<that database's URL> ${file}\n` +
        `(see "Backups and restore" in README.md).`,
      64,
    );
  }
  const result = await (await import("../db/backup.ts")).importEmbedded(config.dataDir, resolve(file), { replace: values.replace });
  const counts = Object.entries(result.counts).map(([table, n]) => `${n} ${table}`).join(", ");
  console.log(
    `imported ${resolve(file)} into ${config.dataDir}/pglite${result.replaced ? " (the previous database was replaced)" : ""}: ` +
      `${result.migrations} migrations, ${counts}`,
  );
});

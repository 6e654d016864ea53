// `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (or the embedded database under DATA_DIR).
import { applyMigrations } from "../db/migrate.ts";
import { parseCommandLine, runCommand, withDatabase } from "./cli.ts";

const command = {
  name: "npm run db:migrate --",
  help: `usage: npm run db:migrate

Applies the pending migrations of prisma/migrations to DATABASE_URL, or to the embedded database
under DATA_DIR (which must not be in use by a running server; the server applies them itself
when it starts). Takes no arguments.

  -h, --help  this text`,
} as const;

parseCommandLine(command);
await runCommand(command, async () => {
  const applied = await withDatabase("npm run db:migrate", (db) => applyMigrations(db.sql), { migrate: false });
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
});

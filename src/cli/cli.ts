import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config.ts";
import { BackupError } from "../db/backup-error.ts";
import type { Database } from "../db/client.ts";
import { DataDirLockedError } from "../db/data-dir-lock.ts";
import { MigrationError } from "../db/migrate.ts";
import type { Services } from "../modules/index.ts";

/**
 * What every command-line tool shares: `--help` prints the usage and exits 0; a usage error is
 * one line on stderr and exit 64 (EX_USAGE); a bad environment exits 78 (EX_CONFIG) like the
 * server; an embedded database held by another process exits 75 (EX_TEMPFAIL); a backup or
 * restore that cannot be done as asked exits with its BackupError's code (65 bad export, 66 no
 * input, 73 would overwrite). No stack traces for any of these: they are the user's to fix, not bugs.
 */
export class UsageError extends Error {}

/** The one positional argument a command takes (`<name>`): a UsageError when it is missing or followed by more. */
export function onePositional(positionals: readonly string[], name: string): string {
  const [value, ...extra] = positionals;
  if (!value) throw new UsageError(`missing <${name}>`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  return value;
}

export interface Command<O extends NonNullable<ParseArgsConfig["options"]>> {
  /** How people run it: "npm run user:create --". */
  name: string;
  /** The whole --help text, starting with the usage line. */
  help: string;
  options?: O;
  allowPositionals?: boolean;
  /** Added to the refusal when the embedded database is in use (what to do instead). */
  whenLocked?: string;
}

/** Parses argv (default: process.argv after the script); handles --help and usage errors by exiting. */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig["options"]>>(command: Command<O>, args = process.argv.slice(2)) {
  try {
    const parsed = parseArgs({
      args,
      options: { ...command.options, help: { type: "boolean", short: "h" } } as O & { help: { type: "boolean"; short: "h" } },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
    if ((parsed.values as { help?: boolean }).help) {
      console.log(command.help.trimEnd());
      process.exit(0);
    }
    return parsed;
  } catch (error) {
    return usageExit(command, (error as Error).message);
  }
}

function usageExit(command: Pick<Command<never>, "name">, message: string): never {
  // parseArgs' advice on positionals after "--" would only confuse at an npm script.
  console.error(`${message.split("\n")[0]!.split(". To specify")[0]} (see: ${command.name} --help)`);
  process.exit(64);
}

/**
 * Runs the command's work. Known failures (usage, configuration, a locked data directory, a
 * refused migration or backup, an API error such as a duplicate email) print their message and set the exit code; anything else
 * is a bug and is printed with its stack.
 */
export async function runCommand(command: Pick<Command<never>, "name" | "whenLocked">, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof UsageError) usageExit(command, error.message);
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 78;
    } else if (error instanceof DataDirLockedError) {
      console.error(command.whenLocked ? `${error.message} ${command.whenLocked}` : error.message);
      process.exitCode = error.exitCode;
    } else if (error instanceof BackupError) {
      console.error(error.message);
      process.exitCode = error.exitCode;
    } else if (error instanceof MigrationError || (await isAppError(error))) {
      console.error((error as Error).message);
      process.exitCode = 1;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  }
}

// What a command's work loads (the database driver, Prisma, the services and through them
// GraphQL) is imported when the work runs, not with the command: --help and usage errors answer
// in the time Node and tsx take to start, without loading the server's code.

/** Whether `error` is an API error (a duplicate email, an invalid slug…); GraphQL is loaded by then if it can be one. */
async function isAppError(error: unknown): Promise<boolean> {
  const { AppError } = await import("../graphql/errors.ts");
  return error instanceof AppError;
}

/**
 * The database the server would use (DATABASE_URL, or the embedded one under DATA_DIR, locked
 * in `owner`'s name), with pending migrations applied; closed when `work` ends.
 */
export async function withDatabase<T>(owner: string, work: (db: Database, config: Config) => Promise<T>, { migrate = true } = {}): Promise<T> {
  const config = loadConfig();
  const [{ openDatabase }, { applyMigrations }] = await Promise.all([import("../db/client.ts"), import("../db/migrate.ts")]);
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, owner });
  try {
    if (migrate) await applyMigrations(db.sql);
    return await work(db, config);
  } finally {
    await db.close();
  }
}

/** `withDatabase` with the services a command-line tool uses (modules/index.ts seedServicesFor). */
export function withServices<T>(owner: string, work: (services: Services, db: Database) => Promise<T>): Promise<T> {
  return withDatabase(owner, async (db, config) => {
    const { seedServicesFor } = await import("../modules/index.ts");
    return work(await seedServicesFor(db, config), db);
  });
}

import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { KeyError } from "./auth/keys.ts";
import { ConfigError } from "./config.ts";
import { DataDirLockedError } from "./db/data-dir-lock.ts";
import { redisSecrets } from "./lib/redis-url.ts";

/**
 * Exit codes of the process (sysexits.h where one fits), documented in README:
 * 0 clean shutdown, 1 a drain that failed or exceeded SHUTDOWN_TIMEOUT, 65 migrations could not
 * be applied, 69 the database stayed unreachable, 70 any other start-up failure, 75 DATA_DIR is in
 * use by another process (the embedded database), 78 configuration.
 */
export const EXIT = { ok: 0, shutdownFailed: 1, migrations: 65, unavailable: 69, software: 70, locked: 75, config: 78 } as const;

/** A start-up failure whose message is one line fit to print: it names the setting and holds no secret. */
export class StartupError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The URL with its password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/** What `pg` rejects with: AggregateError (one per address tried) carries the code, not a message. */
function reasonOf(error: unknown): string {
  const e = error as { message?: string; code?: string; errors?: { message?: string }[] };
  return e.message || e.errors?.[0]?.message || e.code || String(error);
}

// PostgreSQL answers these at once and no retry will change them: bad credentials (class 28)
// or a database that does not exist.
const permanent = (error: unknown) => /^28|^3D000$/.test(String((error as { code?: unknown }).code ?? ""));

/**
 * Pings until the database answers, retrying with backoff (250 ms doubling to 2 s) for at most
 * `timeoutMs` (DATABASE_CONNECT_TIMEOUT): a database that starts together with us is waited for.
 * Then, or at once for bad credentials or a missing database, throws a StartupError naming
 * DATABASE_URL (69 unreachable, 78 refused).
 */
export async function waitForDatabase(ping: () => Promise<void>, url: string | undefined, timeoutMs: number, log: Logger): Promise<void> {
  const target = url ? `DATABASE_URL ${redactUrl(url)}` : "the embedded database (DATA_DIR)";
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0, backoff = 250; ; attempt++, backoff = Math.min(backoff * 2, 2_000)) {
    try {
      await ping();
      return;
    } catch (error) {
      if (permanent(error)) throw new StartupError(EXIT.config, `${target} refused the connection: ${reasonOf(error)}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new StartupError(EXIT.unavailable, `${target} is unreachable (${reasonOf(error)}); gave up after ${attempt + 1} attempts in ${Math.round(timeoutMs / 1000)} s (DATABASE_CONNECT_TIMEOUT)`);
      }
      if (attempt === 0) log.warn({ reason: reasonOf(error), retryForMs: timeoutMs }, "database not reachable yet, retrying");
      await sleep(Math.min(backoff, left));
    }
  }
}

/** Runs the migration step; any failure becomes one line with exit code 65. */
export async function migrationsOrFail<T>(url: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const target = url ? `DATABASE_URL ${redactUrl(url)}` : "the embedded database (DATA_DIR)";
    throw new StartupError(EXIT.migrations, `migrations could not be applied to ${target}: ${reasonOf(error)}`);
  }
}

/**
 * One line and an exit code for any failure before the server listens. Whatever the error says,
 * the given secrets (passwords in URLs, the key) are blanked out of it.
 */
export function startupFailure(error: unknown, secrets: (string | undefined)[] = []): { exitCode: number; line: string } {
  let exitCode: number = EXIT.software;
  let line: string;
  const listen = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (error instanceof ConfigError) {
    exitCode = EXIT.config;
    line = `Invalid configuration: ${error.problems.join("; ")}`;
  } else if (error instanceof StartupError) {
    exitCode = error.exitCode;
    line = error.message;
  } else if (error instanceof DataDirLockedError) {
    // Another process has the embedded database open: the message names it.
    exitCode = EXIT.locked;
    line = error.message;
  } else if (error instanceof KeyError) {
    exitCode = EXIT.config;
    line = `Invalid configuration: ${error.message}`;
  } else if (listen.syscall === "listen") {
    exitCode = EXIT.config;
    line = `Cannot listen on ${listen.address}:${listen.port} (${listen.code}): check PORT, HOST and METRICS_PORT`;
  } else {
    line = `Start-up failed: ${reasonOf(error)}`;
  }
  line = line.replace(/\s*\n\s*/g, " ");
  for (const secret of secrets) if (secret && secret.length >= 4) line = line.split(secret).join("***");
  return { exitCode, line };
}

/** Passwords in the configured URLs and the signing key: never printed. */
export function secretsOf(config: { databaseUrl?: string | undefined; redisUrl?: string | undefined; jwtPrivateKey?: string | undefined }): string[] {
  const passwords = [config.databaseUrl].flatMap((url) => {
    try {
      const raw = url ? new URL(url).password : "";
      return [raw, decodeURIComponent(raw)];
    } catch {
      return [];
    }
  });
  return [...passwords, ...redisSecrets(config.redisUrl), config.jwtPrivateKey].filter((s): s is string => !!s);
}

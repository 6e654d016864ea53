import { readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/**
 * An exclusive lock on the embedded database's data directory. PGlite is single-process: two
 * processes that open the same directory both "work", and the last writer silently wins (an
 * account made by a CLI next to a running server vanished). So every opener of the embedded
 * database (server, user:create, db:migrate, db:seed) takes this lock first, and one that
 * finds it held refuses with a DataDirLockedError naming the owner.
 *
 * The lock is the file `<dataDir>/pglite.lock`, holding the owner's pid, host, command and start
 * time. It is created exclusively (O_EXCL, so of two openers exactly one succeeds) and removed on
 * release and on process exit. One read in the instant between its creation and its content
 * finds it empty, and an empty or foreign lock is judged by its age: fresh, so held.
 *
 * A crashed owner (SIGKILL, power loss) leaves the file behind; the lock is then stale and is
 * taken over: at once when the owner was on this host and its pid no longer runs (or is our
 * own pid, as after a container restart, but not a lock we hold), else once the file's mtime,
 * which the owner touches every HEARTBEAT_MS, is older than STALE_MS. Two processes taking over
 * the same stale lock in the same instant could both succeed; that needs a crash first and
 * two starts within microseconds, which a human at a terminal does not do.
 */
export class DataDirLockedError extends Error {
  /** EX_TEMPFAIL: the directory is busy now; the command works once the owner has stopped. */
  readonly exitCode = 75;
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner | undefined,
  ) {
    const who = owner
      ? `${owner.command} (pid ${owner.pid}${owner.host === hostname() ? "" : ` on ${owner.host}`}, since ${owner.since})`
      : "another process";
    super(
      `DATA_DIR ${dataDir} is in use by ${who}: its embedded database (PGlite) can be open in one process at a time. ` +
        `Stop that process first, or use another DATA_DIR, or PostgreSQL (DATABASE_URL) to share a database` +
        (owner && owner.host !== hostname() ? `; if it no longer runs, delete ${lockPath(dataDir)}` : "") +
        ".",
    );
    this.name = "DataDirLockedError";
  }
}

export interface LockOwner {
  pid: number;
  host: string;
  /** What holds it, as people would name it ("the Cartwheel server", "npm run db:seed"). */
  command: string;
  since: string;
}

export interface DataDirLock {
  /** Removes the lock file (if it is still ours). Safe to call twice. */
  release(): void;
}

const HEARTBEAT_MS = 10_000;
const STALE_MS = 60_000;
/** Lock files this process holds: a second open of the same directory in this process is refused too. */
const held = new Set<string>();

const lockPath = (dataDir: string) => join(dataDir, "pglite.lock");

/** Takes the lock on `dataDir` (which must exist) or throws DataDirLockedError. */
export function lockDataDir(dataDir: string, command: string): DataDirLock {
  const path = lockPath(dataDir);
  const owner: LockOwner = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  const text = `${JSON.stringify(owner)}\n`;
  if (!tryCreate(path, text)) {
    const current = readOwner(path);
    if (!isStale(path, current)) throw new DataDirLockedError(dataDir, current);
    removeIfSame(path, current);
    if (!tryCreate(path, text)) throw new DataDirLockedError(dataDir, readOwner(path));
  }
  held.add(path);
  // Only a lock on another host is judged by its age; touching it keeps it young.
  const heartbeat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // A missing or unwritable lock file changes nothing for this process; the next touch retries.
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const release = () => {
    if (!held.delete(path)) return;
    clearInterval(heartbeat);
    process.off("exit", release);
    if (readFileSafe(path) === text) unlinkQuiet(path);
  };
  process.on("exit", release);
  return { release };
}

function tryCreate(path: string, text: string): boolean {
  try {
    writeFileSync(path, text, { flag: "wx", mode: 0o644 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

function isStale(path: string, owner: LockOwner | undefined): boolean {
  if (held.has(path)) return false;
  if (owner && owner.host === hostname()) return owner.pid === process.pid || !isRunning(owner.pid);
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_MS;
  } catch {
    return true; // gone meanwhile
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes a stale lock file, unless it changed since it was judged (another process took it over first). */
function removeIfSame(path: string, judged: LockOwner | undefined): void {
  const now = readOwner(path);
  if (JSON.stringify(now) === JSON.stringify(judged)) unlinkQuiet(path);
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSafe(path) ?? "") as LockOwner;
    return typeof owner.pid === "number" && typeof owner.host === "string" ? owner : undefined;
  } catch {
    return undefined; // unreadable or half-written by a foreign tool: judged by age
  }
}

function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

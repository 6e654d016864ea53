import { spawn, type ChildProcess } from "node:child_process";
import { afterAll } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

/** The real entry point as an operator runs it: `node --import tsx src/main.ts` with this env. */
export interface MainProcess {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** The JSON log lines (pino) written to stdout so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the first log line `match` accepts (also one already written); rejects after `ms`. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (null when killed by a signal); rejects after `ms`. */
  exited(ms?: number): Promise<number | null>;
}

const children: ChildProcess[] = [];
let registered = false;

/**
 * Spawns src/main.ts with a minimal environment (nothing inherited but PATH and HOME, so no
 * setting of the test runner leaks in). Every child is SIGKILLed after the file's tests.
 */
export function spawnMain(env: Record<string, string>): MainProcess {
  if (!registered) {
    registered = true;
    afterAll(() => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
  }
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    notify();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString();
    notify();
  });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  void exit.then(notify);
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    waitForLog(match, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs().find(match);
          if (found) done(() => resolve(found));
          else if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`exited (${child.exitCode}) before the log line:\n${out}\n${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no such log line within ${ms} ms:\n${out}\n${err}`))), ms);
        const done = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
    exited(ms = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not exit within ${ms} ms:\n${out}\n${err}`)), ms);
      });
      return Promise.race([exit, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

/** Spawns main.ts and resolves once it listens, with its /graphql URL (on 127.0.0.1). */
export async function startMain(env: Record<string, string>, ms = 90_000): Promise<MainProcess & { url: string; origin: string }> {
  const main = spawnMain({ NODE_ENV: "development", LOG_LEVEL: "info", PORT: "0", HOST: "127.0.0.1", ...env });
  const line = await main.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("Cartwheel listening on"), ms);
  const url = String(line.url).replace("localhost", "127.0.0.1");
  return { ...main, url, origin: new URL(url).origin };
}

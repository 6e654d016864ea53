// The lock's own rules, on real files: what the e2e test cannot stage (a lock of another host,
// a second open inside one process).
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { DataDirLockedError, lockDataDir } from "../../src/db/data-dir-lock.ts";
import { tempDir } from "../harness/files.ts";

const dir = tempDir("cartwheel-lock-unit-");
const lockFile = join(dir.path, "pglite.lock");
afterAll(() => dir.remove());

it("a second open in the same process is refused too, and the lock is free again after release", () => {
  const lock = lockDataDir(dir.path, "the first opener");
  expect(JSON.parse(readFileSync(lockFile, "utf8"))).toMatchObject({ pid: process.pid, host: hostname(), command: "the first opener" });
  expect(() => lockDataDir(dir.path, "the second")).toThrow(/in use by the first opener \(pid \d+, since /);
  lock.release();
  lock.release();
  lockDataDir(dir.path, "the second").release();
});

it("a lock of another host counts while its owner touches it, and is taken over once it is a minute old", () => {
  const foreign = { pid: 1, host: "elsewhere", command: "the Cartwheel server", since: "2026-01-01T00:00:00.000Z" };
  writeFileSync(lockFile, JSON.stringify(foreign));
  let refused: unknown;
  try {
    lockDataDir(dir.path, "npm run db:seed");
  } catch (error) {
    refused = error;
  }
  expect(refused).toBeInstanceOf(DataDirLockedError);
  expect((refused as Error).message).toContain("(pid 1 on elsewhere, since 2026-01-01T00:00:00.000Z)");
  expect((refused as Error).message).toContain(`if it no longer runs, delete ${lockFile}`);

  const old = new Date(Date.now() - 61_000);
  utimesSync(lockFile, old, old);
  const lock = lockDataDir(dir.path, "npm run db:seed");
  expect(JSON.parse(readFileSync(lockFile, "utf8"))).toMatchObject({ pid: process.pid, command: "npm run db:seed" });
  lock.release();
});

/**
 * `@jest/globals` for code written for jest that we run under vitest: Apollo's
 * `@apollo/server-integration-testsuite`. vitest.config.ts aliases `@jest/globals` here (nothing
 * of ours imports it, so no other test sees this file).
 *
 * Beyond the plain mapping (`jest` is `vi`; `done` callbacks become promises; `each` names are
 * formatted as jest does), every case passes through `exclusions`, which the test file sets
 * before it defines the suite:
 * - a case listed as `differs` runs, and must FAIL: the exclusion stays true or the test goes red;
 * - a case the suite itself skips (`it.skip`, `describe.skip`: CI forbids skipped tests) must be
 *   listed as `notRun` with a check that the reason still holds; that check is the test;
 * - a skipped case that is not listed fails, and `unusedExclusions()` names listed cases the
 *   suite no longer has.
 */
import { afterAll as vAfterAll, afterEach as vAfterEach, beforeAll as vBeforeAll, beforeEach as vBeforeEach, describe as vDescribe, expect, it as vIt, vi } from "vitest";

export { expect };
export const jest = vi;

type Fn = (...args: unknown[]) => unknown;
export type Exclusion = { differs: string } | { notRun: string; check: () => void };

const exclusions = new Map<string, Exclusion>();
const used = new Set<string>();
const path: string[] = [];
/** Inside a `describe.skip`: every case in it counts as skipped by the suite. */
let skipping = 0;

/** Full case names (describe names and the case's, joined by " > "), or of a describe for all its cases, mapped to why they are excluded. */
export function setExclusions(entries: Record<string, Exclusion>) {
  exclusions.clear();
  for (const [name, exclusion] of Object.entries(entries)) exclusions.set(name, exclusion);
}

/** Listed exclusions that matched no case of the suite (a renamed or removed case). */
export function unusedExclusions(): string[] {
  return [...exclusions.keys()].filter((name) => !used.has(name));
}

/** jest passes `done` to functions that declare a parameter; vitest wants a promise. */
function promised(fn: Fn): () => Promise<unknown> {
  if (fn.length === 0) return async () => fn();
  return () =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => (error ? reject(error) : resolve());
      done.fail = reject;
      fn(done);
    });
}

function register(name: string, fn: Fn, timeout: number | undefined, skippedBySuite: boolean) {
  const names = [...path, name];
  const full = names.join(" > ");
  // Listed by its own full name or by the name of a describe around it (a whole skipped block).
  const key = names.map((_, i) => names.slice(0, names.length - i).join(" > ")).find((candidate) => exclusions.has(candidate));
  const exclusion = key === undefined ? undefined : exclusions.get(key);
  if (key !== undefined) used.add(key);
  if (skippedBySuite || skipping > 0) {
    if (!exclusion || !("notRun" in exclusion)) {
      return vIt(name, () => expect.fail(`the suite skips "${full}": list it as notRun with a reason`));
    }
    return vIt(`${name} [not run: ${exclusion.notRun}]`, exclusion.check);
  }
  if (!exclusion) return vIt(name, promised(fn), timeout);
  if (!("differs" in exclusion)) return vIt(name, () => expect.fail(`"${full}" runs: it cannot be listed as notRun`));
  // The case runs in full (the suite's hooks around it too) and must fail as listed.
  return vIt(`${name} [differs: ${exclusion.differs}]`, async () => {
    let failure: unknown;
    try {
      await promised(fn)();
    } catch (error) {
      failure = error;
    }
    expect(failure, "this excluded case passes now: drop it from the exclusions").toBeDefined();
  }, timeout);
}

/** jest's `each` name formatting, as far as the suite uses it: printf-style %s/%p/%i/%d/%j/%#. */
function eachName(name: string, row: unknown[], index: number): string {
  let next = 0;
  return name.replace(/%[spdijo#%]/g, (token) => {
    if (token === "%%") return "%";
    if (token === "%#") return String(index);
    const value = row[next++];
    return token === "%s" && typeof value === "string" ? value : typeof value === "string" ? JSON.stringify(value) : String(value);
  });
}

function each(define: (name: string, fn: Fn, timeout?: number) => void) {
  return (table: unknown[]) => (name: string, fn: Fn, timeout?: number) =>
    table.forEach((entry, index) => {
      const row = Array.isArray(entry) ? entry : [entry];
      define(eachName(name, row, index), fn.length > row.length ? (done: unknown) => fn(...row, done) : () => fn(...row), timeout);
    });
}

function defineIt(skippedBySuite: boolean) {
  return (name: string, fn: Fn, timeout?: number) => void register(name, fn, timeout, skippedBySuite);
}

export const it = Object.assign(defineIt(false), { skip: defineIt(true), each: each(defineIt(false)) });
export const test = it;

function defineDescribe(skip: boolean) {
  return (name: string, body: () => void) => {
    // vitest collects a describe's body later than the call: take the names and the skip state now.
    const outer = { path: [...path], skipping };
    vDescribe(name, () => {
      const saved = { path: [...path], skipping };
      path.splice(0, path.length, ...outer.path, name);
      skipping = outer.skipping + (skip ? 1 : 0);
      try {
        body();
      } finally {
        path.splice(0, path.length, ...saved.path);
        skipping = saved.skipping;
      }
    });
  };
}

export const describe = Object.assign(defineDescribe(false), { skip: defineDescribe(true), each: each(defineDescribe(false)) });

// Hooks of a skipped describe are not needed by the notRun checks that stand in for its cases.
const hook = (define: (fn: () => Promise<unknown>, timeout?: number) => void) => (fn: Fn, timeout?: number) =>
  skipping > 0 ? undefined : define(promised(fn), timeout);
export const beforeAll = hook(vBeforeAll);
export const afterAll = hook(vAfterAll);
export const beforeEach = hook(vBeforeEach);
export const afterEach = hook(vAfterEach);

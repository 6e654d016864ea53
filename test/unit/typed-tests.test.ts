// The tests are typed like the client (issue 15): no `any` in test/ outside the generated
// documents, so a schema rename or a changed result shape fails `npm run typecheck`.
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const TEST = join(ROOT, "test");

/** An `any` type: annotation, cast, type argument, array or record of any. */
const ANY = new RegExp(String.raw`(:\s*any\b|\bas\s+any\b|<any\b|\bany\[\]|,\s*any>)`);
/** String literals (their text is no type), escapes included. */
const STRINGS = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === join(TEST, "generated") ? [] : filesUnder(path);
    return /\.(ts|mts)$/.test(entry.name) ? [path] : [];
  });
}

/** Lines of `text` with an `any` type, comments and strings left out. */
function anyTypes(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.replace(STRINGS, '""').replace(/\/\/.*$/, "").replace(/\/\*.*?\*\//g, ""))
    .filter((line) => ANY.test(line));
}

it("no test file uses an any type", () => {
  const found = filesUnder(TEST).flatMap((file) => anyTypes(readFileSync(file, "utf8")).map((line) => `${relative(ROOT, file)}: ${line.trim()}`));
  expect(found).toEqual([]);
});

it("the check finds each form of any, and not the word in comments or expect.any()", () => {
  const forms = ["let a: any = 1;", "const b = x as any;", "f<any>(x);", "const c: any[] = [];", "type D = Record<string, any>;", "(e: any) => e"];
  for (const form of forms) expect(anyTypes(form), form).toHaveLength(1);
  expect(anyTypes(`expect(x).toEqual(expect.any(String)); // any order\n/* any */ const many = 1;\nit("a: any as any", () => {});`)).toEqual([]);
});

// The layers' import rules (.dependency-cruiser.cjs; `npm run deps:check` runs the same check):
// no import cycle in src/ (type-only imports included), the platform (lib, db, events, auth,
// graphql, server) imports no module and no composition root, lib/ imports only lib/, and a
// module reaches another only through that module's index.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cruise, type ICruiseResult, type IConfiguration, type IViolation } from "dependency-cruiser";
import { afterAll, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const config = createRequire(import.meta.url)(join(ROOT, ".dependency-cruiser.cjs")) as IConfiguration;
const KNOWN_FILE = ".dependency-cruiser-known-violations.json";
const known = JSON.parse(readFileSync(join(ROOT, KNOWN_FILE), "utf8")) as IViolation[];

/**
 * Every violation of the rules in `baseDir`/src that is not among `knownViolations`, one line
 * each: `rule: from -> to`, or for a cycle `no-circular: ` and its files in order, starting at `from`.
 */
async function violations(baseDir: string, knownViolations: IViolation[] = []): Promise<string[]> {
  const { output } = await cruise(["src"], { ...config.options, baseDir, validate: true, ruleSet: { forbidden: config.forbidden ?? [] }, knownViolations });
  return (output as ICruiseResult).summary.violations
    .filter((violation) => violation.rule.severity !== "ignore")
    .map((violation) =>
      violation.cycle
        ? `${violation.rule.name}: ${[violation.from, ...violation.cycle.map((step) => step.name)].join(" -> ")}`
        : `${violation.rule.name}: ${violation.from} -> ${violation.to}`,
    )
    .sort();
}

const fixtures: string[] = [];
afterAll(() => {
  for (const dir of fixtures) rmSync(dir, { recursive: true, force: true });
});

/** A directory with `files` (path -> text) under it. */
function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "cartwheel-deps-"));
  fixtures.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

it("src/ breaks none of the rules beyond the known violations", async () => {
  expect(await violations(ROOT, known)).toEqual([]);
}, 60_000);

it(`${KNOWN_FILE} lists only module-through-index violations: rules 1-3 have none to grandfather`, () => {
  expect(known.filter((violation) => violation.rule.name !== "module-through-index")).toEqual([]);
});

it("each rule fails on what it forbids", async () => {
  const dir = fixture({
    // A cycle of type-only imports still counts.
    "src/server/a.ts": `import type { B } from "./b.ts";\nexport interface A { b?: B }\n`,
    "src/server/b.ts": `import type { A } from "./a.ts";\nexport interface B { a?: A }\n`,
    // The platform imports no module and no composition root.
    "src/graphql/schema.ts": `import { resolvers } from "../modules/index.ts";\nexport const schema = resolvers;\n`,
    "src/server/http.ts": `import { startApp } from "../app.ts";\nexport const start = startApp;\n`,
    "src/app.ts": `export const startApp = () => undefined;\n`,
    "src/modules/index.ts": `export const resolvers = [];\n`,
    // lib/ imports only lib/.
    "src/lib/ids.ts": `import { db } from "../db/client.ts";\nimport { hash } from "./hash.ts";\nexport const ids = [db, hash];\n`,
    "src/lib/hash.ts": `export const hash = 1;\n`,
    "src/db/client.ts": `export const db = 1;\n`,
    // A module reaches another through its index only; its own files are its own.
    "src/modules/orders/orders.service.ts":
      `import { product } from "../catalog/catalog.service.ts";\nimport { catalog } from "../catalog/index.ts";\nimport { order } from "./order.type.ts";\nexport const orders = [product, catalog, order];\n`,
    "src/modules/orders/order.type.ts": `export const order = 1;\n`,
    "src/modules/catalog/catalog.service.ts": `export const product = 1;\n`,
    "src/modules/catalog/index.ts": `export { product as catalog } from "./catalog.service.ts";\n`,
  });
  expect(await violations(dir)).toEqual([
    "lib-imports-only-lib: src/lib/ids.ts -> src/db/client.ts",
    "module-through-index: src/modules/orders/orders.service.ts -> src/modules/catalog/catalog.service.ts",
    expect.stringMatching(/^no-circular: src\/server\/(a|b)\.ts -> src\/server\/(a|b)\.ts -> src\/server\/\1\.ts$/),
    "platform-imports-no-domain: src/graphql/schema.ts -> src/modules/index.ts",
    "platform-imports-no-domain: src/server/http.ts -> src/app.ts",
  ]);
}, 60_000);

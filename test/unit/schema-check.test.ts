import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { checkSchema, parseAcknowledged, SchemaCheckInputError, type Ack } from "../../scripts/schema-check.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const base = readFileSync(join(repoRoot, "schema.graphql"), "utf8");
const tmp = mkdtempSync(join(tmpdir(), "schema-check-"));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A targeted edit of the real schema; fails loudly if the text it expects is not there. */
function edit(sdl: string, from: string, to: string): string {
  expect(sdl.split(from).length - 1, `expected exactly one ${JSON.stringify(from)} in schema.graphql`).toBe(1);
  const next = sdl.replace(from, to);
  expect(next).not.toBe(sdl);
  return next;
}

let fileCounter = 0;
function tempFile(name: string, text: string): string {
  const file = join(tmp, `${fileCounter++}-${name}`);
  writeFileSync(file, text);
  return file;
}

/** Runs the real CLI (as `npm run schema:check` does, via tsx) from the repo root. */
function runCli(args: string[]) {
  const run = spawnSync(process.execPath, ["--import", "tsx", "scripts/schema-check.ts", ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (run.error) throw run.error;
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, output: run.stdout + run.stderr };
}

const emptyAcks = tempFile("acks-empty.json", "[]");

// Product.name removed (the line sits between inStock and price in `type Product`).
const withoutProductName = edit(base, "  inStock: Boolean!\n  name: String!\n  price: Money!\n", "  inStock: Boolean!\n  price: Money!\n");

describe("schema:check", () => {
  it("flags a removed field as breaking (function and CLI exit 1)", async () => {
    const result = await checkSchema(base, withoutProductName, []);
    expect(result.breaking.map((c) => [c.path, c.type])).toEqual([["Product.name", "FIELD_REMOVED"]]);
    expect(result.unacknowledged).toHaveLength(1);

    const cli = runCli(["--old", tempFile("old.graphql", base), "--new", tempFile("new.graphql", withoutProductName), "--acknowledged", emptyAcks]);
    expect(cli.code, cli.output).toBe(1);
    expect(cli.stdout).toContain("Product.name");
    expect(cli.stdout).toContain("FIELD_REMOVED");
    expect(cli.stdout).toMatch(/schema:check: 1 breaking, \d+ dangerous, \d+ safe changes against /);
  });

  it("passes when a nullable field and an optional argument are added", async () => {
    let next = edit(base, "  inStock: Boolean!\n  name: String!\n", "  inStock: Boolean!\n  name: String!\n  sku: String\n");
    next = edit(next, "  me: User\n", "  me(fresh: Boolean): User\n");
    const result = await checkSchema(base, next, []);
    expect(result.breaking).toEqual([]);
    // The changes are seen, just not breaking (graphql-inspector rates a new optional argument DANGEROUS).
    const seen = [...result.safe, ...result.dangerous].map((c) => [c.path, c.type]);
    expect(seen).toContainEqual(["Product.sku", "FIELD_ADDED"]);
    expect(seen).toContainEqual(["Query.me.fresh", "FIELD_ARGUMENT_ADDED"]);

    const cli = runCli(["--old", tempFile("old.graphql", base), "--new", tempFile("new.graphql", next), "--acknowledged", emptyAcks]);
    expect(cli.code, cli.output).toBe(0);
    expect(cli.stdout).toContain("Product.sku");
    expect(cli.stdout).toContain("Query.me.fresh");
    expect(cli.stdout).toMatch(/schema:check: 0 breaking, 1 dangerous, 1 safe changes against /);
  });

  it("passes an acknowledged breaking change; rejects an acknowledgement without a reason (exit 2)", async () => {
    const ack: Ack = { path: "Product.name", type: "FIELD_REMOVED", reason: "Renamed to title in v2; no client reads name." };
    const result = await checkSchema(base, withoutProductName, [ack]);
    expect(result.breaking).toHaveLength(1);
    expect(result.unacknowledged).toEqual([]);
    expect(result.acknowledged.map((a) => a.ack)).toEqual([ack]);

    const oldFile = tempFile("old.graphql", base);
    const newFile = tempFile("new.graphql", withoutProductName);
    const ok = runCli(["--old", oldFile, "--new", newFile, "--acknowledged", tempFile("acks.json", JSON.stringify([ack]))]);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.stdout).toContain("Product.name");
    expect(ok.stdout).toContain(ack.reason);

    // An acknowledgement for another path/type does not cover it.
    const wrongType = runCli(["--old", oldFile, "--new", newFile, "--acknowledged", tempFile("acks.json", JSON.stringify([{ ...ack, type: "FIELD_TYPE_CHANGED" }]))]);
    expect(wrongType.code, wrongType.output).toBe(1);

    for (const bad of [[{ path: ack.path, type: ack.type }], [{ ...ack, reason: "  " }]]) {
      const rejected = runCli(["--old", oldFile, "--new", newFile, "--acknowledged", tempFile("acks-bad.json", JSON.stringify(bad))]);
      expect(rejected.code, rejected.output).toBe(2);
      expect(rejected.stderr).toMatch(/"reason" is required/);
    }
    const notJson = runCli(["--old", oldFile, "--new", newFile, "--acknowledged", tempFile("acks-bad.json", "{ nope")]);
    expect(notJson.code, notJson.output).toBe(2);
    expect(notJson.stderr).toMatch(/not valid JSON/);

    expect(() => parseAcknowledged(JSON.stringify({ path: "Product.name" }))).toThrow(SchemaCheckInputError);
    await expect(checkSchema(base, withoutProductName, [{ path: "Product.name", type: "FIELD_REMOVED", reason: "" }])).rejects.toThrow(/reason/);
  });

  it("the committed release (schema/released.graphql) against the current schema.graphql passes with the defaults", () => {
    const cli = runCli([]);
    expect(cli.code, cli.output).toBe(0);
    expect(cli.stdout).toMatch(/schema:check: 0 breaking.* changes against schema\/released\.graphql/);
  });

  it("flags an optional argument made required as breaking", async () => {
    const next = edit(base, "products(after: String, filter: ProductFilter, first: Int, orderBy: ProductOrder)", "products(after: String, filter: ProductFilter, first: Int!, orderBy: ProductOrder)");
    const result = await checkSchema(base, next, []);
    expect(result.unacknowledged.map((c) => [c.path, c.type])).toEqual([["Query.products.first", "FIELD_ARGUMENT_TYPE_CHANGED"]]);

    const cli = runCli(["--old", tempFile("old.graphql", base), "--new", tempFile("new.graphql", next), "--acknowledged", emptyAcks]);
    expect(cli.code, cli.output).toBe(1);
    expect(cli.stdout).toContain("Query.products.first");
  });

  it("treats any change of @auth (removed, added, role changed) as breaking until acknowledged", async () => {
    const removed = await checkSchema(base, edit(base, "  cart: Cart! @auth\n", "  cart: Cart!\n"), []);
    expect(removed.unacknowledged.map((c) => [c.path, c.type])).toEqual([["Query.cart.@auth", "DIRECTIVE_USAGE_FIELD_DEFINITION_REMOVED"]]);

    const added = await checkSchema(base, edit(base, "  me: User\n", "  me: User @auth\n"), []);
    expect(added.unacknowledged.map((c) => [c.path, c.type])).toEqual([["Query.me.@auth", "DIRECTIVE_USAGE_FIELD_DEFINITION_ADDED"]]);

    const loosened = edit(base, "UserConnection! @auth(requires: ADMIN)", "UserConnection! @auth(requires: STAFF)");
    const roleChanged = await checkSchema(base, loosened, []);
    expect(roleChanged.unacknowledged.length).toBeGreaterThan(0);
    expect(roleChanged.unacknowledged.every((c) => /\.@auth\.requires$/.test(c.path ?? ""))).toBe(true);

    const acknowledged = await checkSchema(base, loosened, roleChanged.unacknowledged.map((c) => ({ path: c.path!, type: c.type, reason: "reviewed" })));
    expect(acknowledged.unacknowledged).toEqual([]);
    // A new field's own @auth changes nobody's access: safe, like the field.
    const newField = await checkSchema(base, edit(base, "  me: User\n", "  me: User\n  mine: User @auth(requires: ADMIN)\n"), []);
    expect(newField.breaking).toEqual([]);
    expect(newField.safe.map((c) => c.path)).toEqual(expect.arrayContaining(["Query.mine", "Query.mine.@auth"]));
    // Hints that are not @auth keep graphql-inspector's rating.
    const hinted = await checkSchema(base, edit(base, "  me: User\n", "  me: User @cacheControl(maxAge: 5)\n"), []);
    expect(hinted.breaking).toEqual([]);
  });
});

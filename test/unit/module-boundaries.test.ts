// Modules own their tables and reach each other only through their index.ts (issue 15, item 2):
// a static read of src/modules, so a new direct access fails here, naming the file and the line.
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { buildSchema, isObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { nodeFetchers } from "../../src/modules/index.ts";

const ROOT = join(import.meta.dirname, "../..");
const MODULES = join(ROOT, "src/modules");

/** Every table, with the module that owns it, as SQL names it and as Prisma's client names its delegate. */
const OWNED: Record<string, { tables: string[]; models: string[] }> = {
  identity: { tables: ["users", "sessions", "refresh_tokens", "external_identities"], models: ["user", "session", "refreshToken", "externalIdentity"] },
  catalog: { tables: ["products", "categories"], models: ["product", "category"] },
  inventory: { tables: ["stock_levels", "stock_movements"], models: ["stockLevel", "stockMovement"] },
  cart: { tables: ["carts", "cart_items"], models: ["cart", "cartItem"] },
  orders: { tables: ["orders", "order_items"], models: ["order", "orderItem"] },
  notifications: { tables: ["notifications", "notification_preferences"], models: ["notification", "notificationPreference"] },
  audit: { tables: ["audit_events"], models: ["auditEvent"] },
};
/** Prisma relation fields that lead from one module's model into another's (a relation filter or nested write reads that table). */
const RELATIONS: Record<string, string[]> = { inventory: ["stockLevel", "stockMovements"], cart: ["cartItems"], orders: ["orderItems"] };

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

/** The module a file belongs to, or null for the files beside the modules (index.ts, node.resolver.ts…). */
function moduleOf(file: string): string | null {
  const parts = relative(MODULES, file).split("/");
  return parts.length > 1 ? parts[0]! : null;
}

/** Each line of `file` matching `pattern`, as "path:line: text". */
function hits(file: string, pattern: RegExp): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((text, i) => (pattern.test(text) ? [`${relative(ROOT, file)}:${i + 1}: ${text.trim()}`] : []));
}

/** What `module`'s files may not name: every other module's tables, delegates and relation fields. */
function foreignPatterns(module: string | null): RegExp[] {
  const others = Object.keys(OWNED).filter((m) => m !== module);
  const tables = others.flatMap((m) => OWNED[m]!.tables);
  const models = others.flatMap((m) => OWNED[m]!.models);
  const relations = others.flatMap((m) => RELATIONS[m] ?? []);
  return [
    new RegExp(`\\b(FROM|JOIN|INTO|UPDATE|USING)\\s+"?(${tables.join("|")})"?(\\s|$|\\)|,|;)`),
    new RegExp(`\\b(tx|prisma|client|db)\\.(${models.join("|")})\\.`),
    new RegExp(`\\b(${relations.join("|")})\\s*:\\s*\\{`),
  ];
}

const files = filesUnder(MODULES);

describe("module boundaries", () => {
  it("every module reads and writes only its own tables (others' through their index: SQL fragments, facts, services)", () => {
    const found = files.flatMap((file) => foreignPatterns(moduleOf(file)).flatMap((pattern) => hits(file, pattern)));
    expect(found).toEqual([]);
  });

  it("imports another module only through its index.ts", () => {
    const names = Object.keys(OWNED).join("|");
    const found = files.flatMap((file) => {
      const module = moduleOf(file);
      // From a module: ../other/x.ts; from beside the modules: ./module/x.ts.
      const prefix = module ? `\\.\\./(?!${module}/)` : `\\./`;
      return hits(file, new RegExp(`from "${prefix}(${names})/(?!index\\.ts")[^"]+"`));
    });
    expect(found).toEqual([]);
  });

  it("the patterns above catch what they guard against", () => {
    const [sql, delegate, relation] = foreignPatterns("orders");
    expect(sql!.test("LEFT JOIN stock_levels sl ON sl.product_id = t.product_id")).toBe(true);
    expect(sql!.test("SELECT 1 FROM orders o")).toBe(false);
    expect(delegate!.test("await tx.stockLevel.upsert({")).toBe(true);
    expect(delegate!.test("await tx.orderItem.findMany({")).toBe(false);
    expect(relation!.test("select: { stockLevel: { select: { onHand: true } } }")).toBe(true);
  });
});

describe("node(id)", () => {
  it("has one module's fetcher for every type that implements Node, and none for others", () => {
    const schema = buildSchema(readFileSync(join(ROOT, "schema.graphql"), "utf8"));
    const node = schema.getType("Node");
    const implementers = Object.values(schema.getTypeMap())
      .filter((type) => isObjectType(type) && type.getInterfaces().some((i) => i === node))
      .map((type) => type.name);
    expect(Object.keys(nodeFetchers).sort()).toEqual(implementers.sort());
  });
});

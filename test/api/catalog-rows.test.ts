import pg from "pg";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { App } from "../../src/app.ts";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { CategoryListDocument, RowsCategoryListingDocument, RowsFlatDocument, RowsNestedDocument, RowsSkippedRepeatDocument } from "../generated/graphql.ts";
import { gql, ok, request, textOf, useDatabase } from "../harness/index.ts";

// Rows read by the catalog's one statement (src/modules/catalog/catalog.sql.ts): the very statement
// the server sent, run again and counted in its transaction's table statistics, on a catalog big
// enough for the planner to use its indexes: 20 categories x 250 products (every seventh a draft), each with a stock level.
const db = useDatabase();
let app: App;
let compiled: App;
let categoryKey: string;

const STAFF_COST = { COST_LIMIT: "1000000", RESPONSE_CACHE: "false" }; // 26 categories x 50 products is over an anonymous budget

beforeAll(async () => {
  // The default (direct answers: PostgreSQL renders the JSON) and the compiled reads under the executor.
  app = await db.start({ env: STAFF_COST });
  compiled = await db.start({ env: { ...STAFF_COST, CATALOG_READS: "compiled" } });
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`
      INSERT INTO categories (id, slug, name, position)
      SELECT md5('rows-category-' || g)::uuid, 'rows-category-' || g, 'Rows ' || g, 100 + g FROM generate_series(1, 20) g;
      INSERT INTO products (id, slug, name, description, price_cents, currency, category_id, status, created_at, updated_at)
      SELECT md5('rows-product-' || g)::uuid, 'rows-product-' || g, 'Rows product ' || g, '', 100 + (g * 7919) % 100000, 'USD',
             md5('rows-category-' || (1 + g % 20))::uuid, CASE WHEN g % 7 = 0 THEN 'DRAFT' ELSE 'ACTIVE' END::"ProductStatus",
             timestamptz '2020-01-01' + (g || ' minutes')::interval, timestamptz '2020-01-01'
      FROM generate_series(1, 5000) g;
      INSERT INTO stock_levels (product_id, on_hand) SELECT md5('rows-product-' || g)::uuid, g % 50 FROM generate_series(1, 5000) g;
      ANALYZE categories; ANALYZE products; ANALYZE stock_levels;`);
  } finally {
    await client.end();
  }
  categoryKey = ok(await request(app.url, CategoryListDocument)).categories.find((c) => c.slug === "rows-category-2")!.id;
}, 60_000);

/** The catalog statement `app` sends for `query` (caught at the pg driver) and the table rows it reads. */
async function explainRead<R, V>(app: App, document: TypedDocumentNode<R, V>, variables: V): Promise<{ read: number; data: R }> {
  const sent: { text: string; values: unknown[] }[] = [];
  type Query = { query: (...args: unknown[]) => unknown };
  const catch_ = (target: Query) => {
    const original = target.query;
    return vi.spyOn(target, "query").mockImplementation(function (this: unknown, ...args: unknown[]) {
      const [config, values] = args as [string | { text?: unknown; values?: unknown[] } | undefined, unknown[] | undefined];
      const text = typeof config === "string" ? config : config?.text;
      if (typeof text === "string" && /^SELECT .* AS r\b/s.test(text)) sent.push({ text, values: (typeof config === "string" ? values : config?.values) as unknown[] });
      return original.apply(this, args);
    });
  };
  const spies = [catch_(pg.Pool.prototype as unknown as Query), catch_(pg.Client.prototype as unknown as Query)];
  let res;
  try {
    res = await gql<R>(app.url, textOf(document), variables as Record<string, unknown>);
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  expect(res.errors).toBeUndefined();
  expect(new Set(sent.map((s) => s.text)).size).toBe(1);
  // Run it again in a transaction of our own and count what it read in that transaction's own
  // statistics (pg_stat_xact_user_tables: seq_tup_read + idx_tup_fetch), which no other backend's
  // late report can reach and which need no flush.
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(sent[0]!.text, sent[0]!.values);
    const { rows } = await client.query(
      `SELECT coalesce(sum(seq_tup_read), 0) + coalesce(sum(idx_tup_fetch), 0) AS n FROM pg_stat_xact_user_tables WHERE relname IN ('products', 'categories', 'stock_levels')`,
    );
    await client.query("ROLLBACK");
    return { read: Number(rows[0].n), data: res.data! };
  } finally {
    await client.end();
  }
}

describe.each([
  ["direct answers", () => app],
  ["compiled reads", () => compiled],
] as const)("rows read stay within 5%% of the rows returned: %s", (_name, server) => {
  it("flat: 50 products, their categories and stock", async () => {
    const { read, data } = await explainRead(server(), RowsFlatDocument, { first: 50 });
    const returned = data.products.edges.length * 3; // product, category, stock level
    expect(returned).toBe(150);
    expect(read).toBeGreaterThanOrEqual(100); // each category is read once, however many of its products are shown
    expect(read).toBeLessThanOrEqual(returned * 1.05);
  });

  // Each page also reads one row past its end (hasNextPage): 5% of a page of 20 or more.
  it("nested: every category and a page of its products with stock", async () => {
    for (const n of [20, 50]) {
      const { read, data } = await explainRead(server(), RowsNestedDocument, { first: n });
      const products = data.categories.reduce((sum, c) => sum + c.products.edges.length, 0);
      const returned = data.categories.length + products * 2; // category; product and its stock level
      expect(products).toBeGreaterThan(data.categories.length);
      expect(read).toBeGreaterThanOrEqual(returned);
      expect(read).toBeLessThanOrEqual(returned * 1.05);
    }
  });

  it("a root field repeated under @include(if: false) costs nothing: what it would read is not read", async () => {
    // graphql-jit hands the resolver both nodes of the merged field; the skipped one must not be planned.
    const { read, data } = await explainRead(server(), RowsSkippedRepeatDocument, {});
    expect(data.products.edges).toHaveLength(3);
    expect(read).toBeLessThanOrEqual(4);
  });

  it("a customer's listing skips drafts through the index, not by reading them", async () => {
    const { read, data } = await explainRead(server(), RowsCategoryListingDocument, { categoryId: categoryKey });
    expect(data.products.edges).toHaveLength(30);
    expect(read).toBe(31);
  });
});


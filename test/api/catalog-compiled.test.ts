import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import pg from "pg";
import { globalIdSql } from "../../src/modules/catalog/catalog.json.ts";
import { toGlobalId } from "../../src/lib/ids.ts";
import { CategoryIdsDocument, CreateProductDocument } from "../generated/graphql.ts";
import { DEMO, gql, logIn, metricValue, ok, request, signUp, useDatabase } from "../harness/index.ts";
import type { GqlError } from "../harness/http.ts";

// The catalog's hot reads are ONE statement built from the selection (src/modules/catalog/catalog.reads.ts),
// and a query of only plain catalog fields gets its whole answer as JSON text from that statement
// (catalog.json.ts). Three servers on one database: the direct answers (the default,
// CATALOG_READS=direct), the compiled reads under the executor (CATALOG_READS=compiled) and the
// general path through the loaders (CATALOG_READS=general). For every selection below the first two
// answer the same bytes and the general path the same JSON.

const db = useDatabase();
let direct: App;
let compiled: App;
let general: App;
let staff: string;
let customer: string;
let categoryId: string;
const hidden: { id: string; slug: string }[] = [];

const FLAT = `query($n: Int) { products(first: $n, orderBy: {field: CREATED_AT, direction: ASC}) { edges { node { id name price { amountCents } category { name } stock } } } }`;
const NESTED = `query($n: Int) { categories { id name products(first: $n) { edges { node { id name price { amountCents } stock } } } } }`;
const BY_ID = `query($id: ID!) { product(id: $id) { id name slug price { amountCents currency } category { id name } stock inStock } }`;
const NODE = `query($id: ID!) { node(id: $id) { id ... on Product { name price { amountCents } category { name } stock } } }`;

// What the tests read of the answers: the texts stay inline (the table below compares the servers
// on exactly these texts), so their results are typed here, by the fields read.
type Edges<N> = { edges: { node: N }[] };
type Ids = Edges<{ id: string }>;
type Flat = { products: Edges<{ id: string; category: { name: string } }> };
type Nested = { categories: { products: { edges: unknown[] } }[] };
type ById = { product: { id: string; slug: string; stock: number; costPrice: { amountCents: number } } | null };
type NodeId = { node: { id: string } | null };

beforeAll(async () => {
  // Without the response cache: every request here must run its statement.
  direct = await db.start({ env: { RESPONSE_CACHE: "false" } });
  compiled = await db.start({ env: { CATALOG_READS: "compiled", RESPONSE_CACHE: "false" } });
  general = await db.start({ env: { CATALOG_READS: "general", RESPONSE_CACHE: "false" } });
  staff = await logIn(direct.url, DEMO.staff);
  customer = (await signUp(direct.url)).token;
  categoryId = ok(await request(direct.url, CategoryIdsDocument)).categories[0]!.id;
  // Drafts and archived products in the first category, named to sort among the others.
  for (const status of ["DRAFT", "ARCHIVED", "DRAFT"] as const) {
    const slug = `hidden-${randomUUID().slice(0, 8)}`;
    const res = await request(
      direct.url,
      CreateProductDocument,
      { input: { slug, name: `B ${status} ${slug}`, description: "not for customers", priceCents: 1_999, costCents: 800, categoryId, status } },
      staff,
    );
    expect(res.errors).toBeUndefined();
    hidden.push({ id: res.data!.createProduct.id, slug });
  }
}, 60_000);

async function statements<R = unknown>(app: App, query: string, variables: Record<string, unknown>) {
  const before = app.db.statementCount();
  const res = await gql<R>(app.url, query, variables);
  expect(res.errors).toBeUndefined();
  return { count: app.db.statementCount() - before, data: res.data! };
}

describe.each([
  ["direct answers", () => direct],
  ["compiled reads under the executor", () => compiled],
] as const)("one statement per anonymous catalog request: %s", (_name, server) => {
  // Nested pages are tested at 5 and 20: 50 categories x 50 products is over an anonymous caller's cost budget.
  for (const [n, nested] of [[5, 5], [50, 20]] as const) {
    it(`flat products(first: ${n}) with category and stock`, async () => {
      const { count, data } = await statements<Flat>(server(), FLAT, { n });
      expect(data.products.edges).toHaveLength(n);
      expect(data.products.edges[0]!.node.category.name).toEqual(expect.any(String));
      expect(count).toBe(1);
    });

    it(`nested categories x products(first: ${nested}) with stock`, async () => {
      const n = nested;
      const { count, data } = await statements<Nested>(server(), NESTED, { n });
      const sizes = data.categories.map((c) => c.products.edges.length);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(n);
      if (n === 5) expect(Math.max(...sizes)).toBe(5); // the demo categories hold more than 5
      expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(n === 5 ? 5 : 20);
      expect(count).toBe(1);
    });
  }

  it("product by id, by slug, and node on a product", async () => {
    const id = (await gql<Flat>(server().url, FLAT, { n: 1 })).data!.products.edges[0]!.node.id;
    const byId = await statements<ById>(server(), BY_ID, { id });
    expect(byId.data.product!.id).toBe(id);
    expect(byId.count).toBe(1);
    const bySlug = await statements<ById>(server(), `query($s: String!) { product(slug: $s) { id stock category { name } } }`, { s: byId.data.product!.slug });
    expect(bySlug.data.product!.id).toBe(id);
    expect(bySlug.count).toBe(1);
    const node = await statements<NodeId>(server(), NODE, { id });
    expect(node.data.node).toMatchObject({ id, stock: byId.data.product!.stock });
    expect(node.count).toBe(1);
  });

  it("the general path (CATALOG_READS=general) takes several for the same answer", async () => {
    const a = await statements(server(), FLAT, { n: 50 });
    const b = await statements(general, FLAT, { n: 50 });
    expect(b.data).toEqual(a.data);
    expect(b.count).toBeGreaterThan(1);
  });
});

type Role = "anonymous" | "customer" | "staff";
const tokenOf = (role: Role) => (role === "staff" ? staff : role === "customer" ? customer : undefined);

async function raw(app: App, query: string, variables: Record<string, unknown>, role: Role) {
  const token = tokenOf(role);
  const response = await fetch(app.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, text: await response.text() };
}

const directAnswers = () => metricValue(direct.url, `cartwheel_graphql_executions_total{executor="postgres",path="direct"}`);

/** The three servers' answers: the same bytes from the first two, the same JSON from the third. */
async function both<R = unknown>(query: string, variables: Record<string, unknown>, role: Role) {
  const before = await directAnswers();
  const [a, b, c] = await Promise.all([raw(direct, query, variables, role), raw(compiled, query, variables, role), raw(general, query, variables, role)]);
  const answered = (await directAnswers()) - (Number.isNaN(before) ? 0 : before);
  expect(a.text).toBe(b.text);
  expect(a.status).toBe(b.status);
  expect(JSON.parse(a.text)).toEqual(JSON.parse(c.text));
  expect(a.status).toBe(c.status);
  return { status: a.status, ...(JSON.parse(a.text) as { data?: R; errors?: GqlError[] }), direct: answered === 1 };
}

const NODE_FIELDS = `id slug name description price { amountCents currency } status createdAt updatedAt stock inStock cursor category { id slug name }`;

describe("the compiled path answers exactly what the general path answers", () => {
  const cases: [string, string, Record<string, unknown>, Role[]][] = [
    ["every product field", `{ products(first: 30) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { ${NODE_FIELDS} } } } }`, {}, ["anonymous", "customer", "staff"]],
    ["aliases, repeated fields and __typename", `{ a: products(first: 3) { edges { n: node { __typename x: id id name } } } b: products(first: 2, orderBy: {field: PRICE, direction: DESC}) { t: totalCount edges { node { p: price { c: amountCents } price { currency } } } } }`, {}, ["anonymous", "staff"]],
    ["named and inline fragments", `fragment P on Product { name stock } fragment N on Node { id } { products(first: 4) { ...C edges { node { ...P ...N ... on Product { inStock category { ... on Category { slug } } } } } } } fragment C on ProductConnection { totalCount }`, {}, ["anonymous", "staff"]],
    ["@skip and @include with variables", `query($yes: Boolean!, $no: Boolean!) { products(first: 3) { totalCount @include(if: $no) edges { node { id stock @skip(if: $yes) name @include(if: $yes) category @include(if: $no) { name } } } } }`, { yes: true, no: false }, ["anonymous"]],
    ["filters: category, price range, in stock", `query($c: ID) { products(first: 50, filter: { categoryId: $c, minPriceCents: 500, maxPriceCents: 500000, inStock: true }) { totalCount edges { node { id name stock price { amountCents } } } } }`, { c: null }, ["anonymous", "staff"]],
    ["filter: a category (drafts there)", `query($c: ID) { products(first: 50, filter: { categoryId: $c }) { totalCount edges { node { id name status } } } }`, { c: "from-setup" }, ["anonymous", "customer", "staff"]],
    ["filter: out of stock", `{ products(first: 50, filter: { inStock: false }) { totalCount edges { node { id stock inStock } } } }`, {}, ["anonymous", "staff"]],
    ["filter: search", `{ products(first: 10, filter: { search: "a" }) { totalCount edges { node { id name } } } }`, {}, ["anonymous", "staff"]],
    ["filter: nothing matches", `{ products(first: 10, filter: { minPriceCents: 99999999 }) { totalCount pageInfo { hasNextPage startCursor endCursor } edges { cursor node { id } } } }`, {}, ["anonymous"]],
    ["costPrice: staff only", `{ products(first: 5, orderBy: {field: CREATED_AT, direction: DESC}) { edges { node { id costPrice { amountCents currency } } } } }`, {}, ["anonymous", "customer", "staff"]],
    ["categories with every field and two pages each", `{ categories { __typename id slug name first: products(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name stock category { name } } } } more: products(first: 5) { edges { node { id } } } } }`, {}, ["anonymous", "staff"]],
    ["a product's category's products", `{ products(first: 2) { edges { node { id category { name products(first: 3) { totalCount edges { node { id name category { slug } } } } } } } } }`, {}, ["anonymous", "staff"]],
    ["categories, default page size", `{ categories { name products { edges { node { name } } } } }`, {}, ["anonymous"]],
    ["search for LIKE wildcards matches them literally", `query($s: String) { products(first: 50, filter: { search: $s }) { totalCount edges { node { id name } } } }`, { s: "%" }, ["anonymous"]],
    ["search for an underscore", `query($s: String) { products(first: 50, filter: { search: $s }) { totalCount edges { node { id name } } } }`, { s: "_" }, ["staff"]],
    ["a root field repeated under @include(if: false) reads nothing for the skipped part", `query($f: Boolean = false) { products(first: 3) { totalCount edges { node { id } } } products(first: 3) @include(if: $f) { edges { node { category { products(first: 4) { totalCount } } } } } }`, {}, ["anonymous"]],
    ["a variable's default value", `query($n: Int = 3) { categories { id products(first: $n) { edges { node { id } } } } }`, {}, ["anonymous"]],
    ["same parent, pages under different aliases and an empty after", `{ products(first: 2) { edges { node { category { products(first: 1) { edges { node { id } } } } } n: node { category { products(first: 1, after: "") { edges { node { id } } } } } } } }`, {}, ["anonymous"]],
    ["a cursor whose date only JavaScript reads", `query($a: String) { products(first: 3, after: $a, orderBy: {field: CREATED_AT, direction: ASC}) { edges { node { id } } } }`, { a: Buffer.from(JSON.stringify(["1", "00000000-0000-4000-8000-000000000000"])).toString("base64url") }, ["anonymous"]],
  ];
  const EXECUTOR_CASES = new Set(["every product field", "costPrice: staff only", "same parent, pages under different aliases and an empty after"]);
  for (const [name, query, variables, roles] of cases) {
    for (const role of roles) {
      it(`${name} (${role})`, async () => {
        const vars = variables.c === "from-setup" ? { c: categoryId } : variables;
        const res = await both(query, vars, role);
        // Answered by PostgreSQL whole unless a field needs the executor (Product.cursor, costPrice).
        expect(res.direct).toBe(!EXECUTOR_CASES.has(name));
        // Data, or (the empty-after case) the same refusal from both.
        expect(JSON.stringify(res.data ?? res.errors)).toMatch(/"id"|"name"|"totalCount"|BAD_USER_INPUT/);
      });
    }
  }

  it("drafts are hidden from customers and shown to staff, in listings, by id, by slug and by node", async () => {
    for (const role of ["anonymous", "customer", "staff"] as const) {
      for (const { id, slug } of hidden) {
        const byId = await both<ById>(`query($id: ID!) { product(id: $id) { ${NODE_FIELDS} costPrice { amountCents } } }`, { id }, role);
        const bySlug = await both<ById>(`query($s: String!) { product(slug: $s) { id status } }`, { s: slug }, role);
        const node = await both<NodeId>(`query($id: ID!) { node(id: $id) { id ... on Product { status stock } } }`, { id }, role);
        if (role === "staff") {
          expect(byId.data!.product!.id).toBe(id);
          expect(byId.data!.product!.costPrice.amountCents).toBe(800);
          expect(bySlug.data!.product!.id).toBe(id);
          expect(node.data!.node!.id).toBe(id);
        } else {
          expect(byId.data!.product).toBeNull();
          expect(bySlug.data!.product).toBeNull();
          expect(node.data!.node).toBeNull();
        }
      }
      const listing = await both<{ products: Ids }>(`query($c: ID) { products(first: 100, filter: { categoryId: $c }) { edges { node { id } } } }`, { c: categoryId }, role);
      const ids = listing.data!.products.edges.map((e) => e.node.id);
      for (const { id } of hidden) expect(ids.includes(id)).toBe(role === "staff");
      // Under categories, and under a product's category, as well (Category.products pages).
      const categories = await both<{ categories: { id: string; products: Ids }[] }>(`{ categories { id products(first: 50) { edges { node { id } } } } }`, {}, role);
      const underProducts = await both<{ products: Edges<{ category: { products: Ids } }> }>(`query($c: ID) { products(first: 5, filter: { categoryId: $c }) { edges { node { category { id products(first: 50) { edges { node { id } } } } } } } }`, { c: categoryId }, role);
      expect(categories.errors ?? underProducts.errors).toBeUndefined();
      const pages = [
        categories.data!.categories.find((c) => c.id === categoryId)!.products,
        ...underProducts.data!.products.edges.map((e) => e.node.category.products),
      ];
      expect(pages.length).toBeGreaterThan(1);
      for (const page of pages) {
        const pageIds = page.edges.map((e) => e.node.id);
        for (const { id } of hidden) expect(pageIds.includes(id)).toBe(role === "staff");
      }
    }
  });

  for (const field of ["NAME", "PRICE", "CREATED_AT"]) {
    for (const direction of ["ASC", "DESC"]) {
      it(`pages through every product by ${field} ${direction}, edge to edge`, async () => {
        const q = `query($after: String) { products(first: 7, after: $after, orderBy: {field: ${field}, direction: ${direction}}) { totalCount pageInfo { hasNextPage endCursor startCursor } edges { cursor node { id name } } } }`;
        let after: string | null = null;
        const seen: string[] = [];
        for (let page = 0; page < 100; page++) {
          type Page = { products: Ids & { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
          const res: Awaited<ReturnType<typeof both<Page>>> = await both<Page>(q, { after }, "staff");
          seen.push(...res.data!.products.edges.map((e) => e.node.id));
          if (!res.data!.products.pageInfo.hasNextPage) {
            expect(seen).toHaveLength(res.data!.products.totalCount);
            expect(new Set(seen).size).toBe(seen.length);
            return;
          }
          after = res.data!.products.pageInfo.endCursor;
        }
        throw new Error("never reached the last page");
      });
    }
  }

  it("pages through a category's products (Category.products after a cursor)", async () => {
    const first = await both<{ categories: { products: Ids & { pageInfo: { endCursor: string | null } } }[] }>(
      `{ categories { id products(first: 2) { pageInfo { endCursor } edges { node { id } } } } }`,
      {},
      "anonymous",
    );
    const category = first.data!.categories[0]!;
    const q = `query($after: String) { categories { id products(first: 2, after: $after) { pageInfo { hasNextPage } edges { cursor node { id name } } } } }`;
    const next = await both<{ categories: { products: Ids }[] }>(q, { after: category.products.pageInfo.endCursor }, "anonymous");
    const ids = next.data!.categories[0]!.products.edges.map((e) => e.node.id);
    expect(ids).not.toContain(category.products.edges[0]!.node.id);
  });

  it("bad arguments are the same BAD_USER_INPUT on both", async () => {
    for (const [q, v] of [
      [`{ products(first: 101) { edges { node { id } } } }`, {}],
      [`{ products(first: 2, after: "bm90IGEgY3Vyc29y") { edges { node { id } } } }`, {}],
      [`{ products(first: 2, filter: { minPriceCents: 10, maxPriceCents: 5 }) { edges { node { id } } } }`, {}],
      [`{ products(first: 2, filter: { categoryId: "nope" }) { edges { node { id } } } }`, {}],
      [`{ categories { products(first: 0) { edges { node { id } } } } }`, {}],
      [`{ product(id: "nope") { id } }`, {}],
    ] as const) {
      const res = await both(q, v, "anonymous");
      expect(res.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
      expect(res.direct).toBe(false);
    }
  });
});

describe("global ids written by PostgreSQL", () => {
  it("equal toGlobalId's for 20,000 random UUIDs of each type (base64 there, base64url in Node)", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      for (const type of ["Product", "Category"] as const) {
        const { rows } = await client.query<{ key: string; id: string }>(
          `SELECT u::text AS key, ${globalIdSql(type, "u")} AS id FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 20000)) g`,
        );
        expect(rows).toHaveLength(20_000);
        const wrong = rows.filter((r) => r.id !== toGlobalId(type, r.key));
        expect(wrong).toEqual([]);
      }
    } finally {
      await client.end();
    }
  });
});

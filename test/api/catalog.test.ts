import { describe, expect, it } from "vitest";
import { toGlobalId } from "../../src/lib/ids.ts";
import {
  CategoryFirstProductsDocument,
  CategoryListDocument,
  CategoryProductCountDocument,
  CategoryProductsAfterDocument,
  FirstProductSlugDocument,
  ProductAndNodeDocument,
  ProductByIdAndSlugDocument,
  ProductPageDocument,
  type ProductFilter,
  type ProductOrder,
  type ProductPageQuery,
  type ProductPageQueryVariables,
} from "../generated/graphql.ts";
import { codeOf, gql, ok, request, textOf, useTestServer } from "../harness/index.ts";

const server = useTestServer();

const PAGE = textOf(ProductPageDocument);
const page = (variables: ProductPageQueryVariables) => request(server.app.url, ProductPageDocument, variables);

async function all(filter?: ProductFilter, orderBy?: ProductOrder, first = 7) {
  const nodes: ProductPageQuery["products"]["edges"][number]["node"][] = [];
  let after: string | null = null;
  let totalCount = -1;
  for (let n = 0; n < 50; n++) {
    const conn: ProductPageQuery["products"] = ok(await page({ first, after, filter, orderBy })).products;
    totalCount = conn.totalCount;
    nodes.push(...conn.edges.map((e) => e.node));
    if (!conn.pageInfo.hasNextPage) return { nodes, totalCount };
    after = conn.pageInfo.endCursor ?? null;
  }
  throw new Error("pagination did not end");
}

describe("products over HTTP, anonymous", () => {
  it("returns seeded products with cursors", async () => {
    const res = await page({ first: 5 });
    expect(res.status).toBe(200);
    const conn = res.data!.products;
    expect(conn.totalCount).toBeGreaterThanOrEqual(50);
    expect(conn.edges).toHaveLength(5);
    for (const edge of conn.edges) {
      expect(edge.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(edge.node.price.currency).toBe("USD");
      expect(Number.isInteger(edge.node.price.amountCents)).toBe(true);
      expect(edge.node.category.slug).toBeTruthy();
    }
    expect(conn.pageInfo).toEqual({ hasNextPage: true, endCursor: conn.edges[4]!.cursor, hasPreviousPage: false, startCursor: conn.edges[0]!.cursor });
  });

  it("PageInfo per the Relay spec: startCursor is the first edge's, hasPreviousPage false when paging forward, null cursors when empty", async () => {
    const first = (await page({ first: 3 })).data!.products;
    const second = (await page({ first: 3, after: first.pageInfo.endCursor })).data!.products;
    expect(second.edges[0]!.cursor).not.toBe(first.edges[0]!.cursor);
    expect(second.pageInfo).toEqual({ hasNextPage: true, endCursor: second.edges[2]!.cursor, hasPreviousPage: false, startCursor: second.edges[0]!.cursor });
    const none = (await page({ filter: { search: "no product is called this" } })).data!.products;
    expect(none.edges).toEqual([]);
    expect(none.pageInfo).toEqual({ hasNextPage: false, endCursor: null, hasPreviousPage: false, startCursor: null });
  });

  it("pagination walks every product exactly once, in order", async () => {
    const { nodes, totalCount } = await all();
    expect(nodes).toHaveLength(totalCount);
    expect(new Set(nodes.map((n) => n.id)).size).toBe(totalCount);
    const names = nodes.map((n) => n.name);
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("orders by price and creation date in both directions, across pages", async () => {
    const asc = (await all(undefined, { field: "PRICE", direction: "ASC" }, 9)).nodes.map((n) => n.price.amountCents);
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
    const desc = await all(undefined, { field: "PRICE", direction: "DESC" }, 11);
    const prices = desc.nodes.map((n) => n.price.amountCents);
    expect(prices).toEqual([...prices].sort((a, b) => b - a));
    expect(new Set(desc.nodes.map((n) => n.id)).size).toBe(desc.totalCount);
    const created = (await all(undefined, { field: "CREATED_AT", direction: "DESC" }, 13)).nodes.map((n) => n.createdAt);
    expect(created).toEqual([...created].sort().reverse());
  });

  it("filters by category, search, price range and stock", async () => {
    const categories = (await request(server.app.url, CategoryListDocument)).data!.categories;
    expect(categories.length).toBeGreaterThanOrEqual(5);
    const kitchen = categories.find((c) => c.slug === "kitchen")!;
    const byCategory = await all({ categoryId: kitchen.id });
    expect(byCategory.nodes.length).toBeGreaterThan(0);
    expect(byCategory.nodes.every((n) => n.category.id === kitchen.id)).toBe(true);

    const search = await all({ search: "lamp" });
    expect(search.nodes.length).toBeGreaterThan(0);
    expect(search.nodes.every((n) => /lamp/i.test(n.name))).toBe(true);

    const priced = await all({ minPriceCents: 3000, maxPriceCents: 6000 });
    expect(priced.nodes.length).toBeGreaterThan(0);
    expect(priced.nodes.every((n) => n.price.amountCents >= 3000 && n.price.amountCents <= 6000)).toBe(true);

    const inStock = await all({ inStock: true });
    const outOfStock = await all({ inStock: false });
    expect(outOfStock.nodes.length).toBeGreaterThan(0);
    expect(inStock.nodes.every((n) => n.stock > 0 && n.inStock)).toBe(true);
    expect(outOfStock.nodes.every((n) => n.stock === 0 && !n.inStock)).toBe(true);
    const everything = await all();
    expect(inStock.totalCount + outOfStock.totalCount).toBe(everything.totalCount);
  });

  it("Category.products pages through one category", async () => {
    const res = await request(server.app.url, CategoryFirstProductsDocument);
    expect(res.errors).toBeUndefined();
    const cat = res.data!.categories[0]!;
    expect(cat.products.edges).toHaveLength(3);
    expect(cat.products.edges.every((e) => e.node.category.slug === cat.slug)).toBe(true);
    const next = await request(server.app.url, CategoryProductsAfterDocument, { after: cat.products.pageInfo.endCursor });
    const rest = next.data!.categories.find((c) => c.slug === cat.slug)!.products.edges;
    expect(rest.length + 3).toBe(cat.products.totalCount);
    const forged = Buffer.from(JSON.stringify(["Aurora", "not-a-uuid"])).toString("base64url");
    const bad = await request(server.app.url, CategoryProductCountDocument, { after: forged });
    expect(codeOf(bad)).toBe("BAD_USER_INPUT");
  });

  it("an unknown id is null without an error; product and node agree", async () => {
    const missing = toGlobalId("Product", "00000000-0000-4000-8000-000000000000");
    const res = await request(server.app.url, ProductAndNodeDocument, { id: missing });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ product: null, node: null });
    const first = (await request(server.app.url, FirstProductSlugDocument)).data!.products.edges[0]!.node;
    const found = await request(server.app.url, ProductByIdAndSlugDocument, { id: first.id, slug: first.slug });
    expect(found.data).toEqual({ product: { id: first.id }, node: { slug: first.slug }, bySlug: { id: first.id } });
  });

  it("bad arguments give BAD_USER_INPUT", async () => {
    // Arguments the server must refuse (one not even an Int): sent as text, untyped.
    const cases: [string, Record<string, unknown>][] = [
      [PAGE, { first: 500 }],
      [PAGE, { first: 0 }],
      [PAGE, { after: "not-a-cursor" }],
      [PAGE, { filter: { categoryId: "nope" } }],
      [PAGE, { filter: { minPriceCents: 500, maxPriceCents: 100 } }],
      [PAGE, { first: "ten" }],
      [`query($id: ID!) { product(id: $id) { id } }`, { id: toGlobalId("Category", "00000000-0000-4000-8000-000000000000") }],
      [`{ product { id } }`, {}],
    ];
    for (const [query, variables] of cases) {
      const res = await gql(server.app.url, query, variables);
      expect(res.errors?.[0]?.extensions.code, JSON.stringify(variables)).toBe("BAD_USER_INPUT");
    }
  });
});

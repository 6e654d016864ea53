import { beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { toGlobalId } from "../../src/lib/ids.ts";
import { ExecutorFixturesDocument } from "../generated/graphql.ts";
import { DEMO, gql, logIn, metricValue, request, someProducts, useDatabase } from "../harness/index.ts";

// GRAPHQL_EXECUTOR=jit and =graphql-js side by side on one database: every document below must
// get the same status, cache-control header and body (after formatError's masking) from both.
// The texts are the cases (what each exercises is written into it; some are documents codegen
// would refuse: invalid, ambiguous, anonymous), so they stay text.
const db = useDatabase();
// Without the response cache: every request here must reach the executor.
// The compiled reads under the executor: the direct answers (no executor runs) are compared in catalog-compiled.test.ts.
const SERVER_ENV = { INTROSPECTION: "false", RESPONSE_CACHE: "false", CATALOG_READS: "compiled" };

interface Fixtures {
  productIds: string[];
  categoryId: string;
  orderId: string;
  customerId: string;
}

interface Case {
  name: string;
  query: string;
  variables?: (f: Fixtures) => Record<string, unknown>;
  operationName?: string;
  as?: "customer" | "staff";
  /** The error codes the answer must hold (sorted, one per error); none: no errors. */
  codes?: string[];
  /** The cache-control header the answer must have (set once per document by plugins/cache-policy.ts, under either executor). */
  cacheControl?: string;
}

const PRODUCT_FIELDS = `id name slug description status inStock stock createdAt updatedAt price { amountCents currency } category { id name slug }`;

const CASES: Case[] = [
  {
    name: "a connection with every scalar, enum, DateTime and Money field, cursors and pageInfo",
    query: `{ products(first: 5) { totalCount edges { cursor node { ${PRODUCT_FIELDS} } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
    cacheControl: "max-age=10, public",
  },
  {
    name: "aliases, named and inline fragments, __typename, nested connections",
    query: `query Q($n: Int) {
      a: products(first: $n, orderBy: { field: PRICE, direction: DESC }) { edges { node { ...P } } }
      b: categories { __typename id name ... on Category { slug } products(first: 2) { totalCount edges { node { ...P n2: name } } } }
      __typename
    }
    fragment P on Product { __typename id name price { cents: amountCents } }`,
    variables: () => ({ n: 3 }),
  },
  {
    name: "@skip/@include with variables, one fragment spread under two different conditions",
    query: `query($a: Boolean!, $b: Boolean!) {
      products(first: 2) { edges { node { id ...Price @include(if: $a) category { ...Cat @include(if: $b) } name @skip(if: $a) } } }
      again: products(first: 1) { edges { node { ...Price @include(if: $b) stock @skip(if: $b) } } }
    }
    fragment Price on Product { price { amountCents } name }
    fragment Cat on Category { name }`,
    variables: () => ({ a: true, b: false }),
  },
  {
    // graphql-jit's default skip/include mode joins the conditions of every spread of a fragment
    // onto the fragment's own fields (graphql-jit issue #166): both would vanish here.
    name: "one fragment spread under two fields, @include on one spread and @skip on the other",
    query: `query($a: Boolean!) {
      products(first: 2) { edges { node { id c1: category { ...Cat @include(if: $a) id } c2: category { ...Cat @skip(if: $a) id } } } }
      first: products(first: 1) { edges { node { one: category { ...Cat @skip(if: true) slug } two: category { ...Cat @skip(if: false) } } } }
    }
    fragment Cat on Category { name products(first: 1) { totalCount } }`,
    variables: () => ({ a: false }),
  },
  {
    name: "node(id): the Node interface resolved to Product, Category, and null for an unknown id",
    query: `query($p: ID!, $c: ID!, $none: ID!) {
      p: node(id: $p) { __typename id ... on Product { name price { amountCents } } ... on Category { slug } }
      c: node(id: $c) { __typename id ... on Category { name slug products(first: 1) { totalCount } } }
      none: node(id: $none) { id }
    }`,
    variables: (f) => ({ p: f.productIds[0], c: f.categoryId, none: toGlobalId("Product", "00000000-0000-4000-8000-000000000000") }),
  },
  {
    name: "node(id) of a User and an Order as their owner; me with DateTime and Role",
    query: `query($u: ID!, $o: ID!) {
      me { id name email role createdAt orders(first: 2) { totalCount edges { node { number status total { amountCents currency } } } } }
      u: node(id: $u) { ... on User { name email } }
      o: node(id: $o) { ... on Order { number status createdAt items { quantity unitPrice { amountCents } lineTotal { amountCents } product { name } } customer { name } } }
    }`,
    variables: (f) => ({ u: f.customerId, o: f.orderId }),
    as: "customer",
  },
  {
    name: "enum arguments and input objects",
    query: `query($f: ProductFilter, $s: OrderStatus) {
      products(first: 4, filter: $f, orderBy: { field: NAME, direction: ASC }) { edges { node { name inStock price { amountCents } } } }
      orders(status: $s) { totalCount }
    }`,
    variables: () => ({ f: { inStock: true, minPriceCents: 1000 }, s: "DELIVERED" }),
    as: "customer",
  },
  { name: "BAD_USER_INPUT from a resolver, on a non-null root field (data null)", query: `{ products(first: 500) { totalCount } }`, codes: ["BAD_USER_INPUT"] },
  {
    name: "BAD_USER_INPUT from a resolver beside fields that succeed",
    query: `query($after: String) { product(slug: "nope") { id } categories { name } bad: products(after: $after) { totalCount } }`,
    variables: () => ({ after: "not-a-cursor" }),
    codes: ["BAD_USER_INPUT"],
  },
  {
    name: "@auth(requires: STAFF) costPrice as anonymous: UNAUTHENTICATED on every row, the nullable field null",
    query: `{ products(first: 3) { edges { node { id costPrice { amountCents } } } } }`,
    codes: ["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED"],
  },
  {
    name: "@auth(requires: STAFF) costPrice as a customer: FORBIDDEN",
    query: `{ products(first: 2) { edges { node { id costPrice { amountCents } } } } }`,
    as: "customer",
    codes: ["FORBIDDEN", "FORBIDDEN"],
  },
  { name: "costPrice as staff", query: `{ products(first: 3) { edges { node { id costPrice { amountCents currency } } } } }`, as: "staff", cacheControl: "max-age=10, private" },
  {
    name: "a staff mutation as anonymous (non-null: data null)",
    query: `mutation($id: ID!) { updateProduct(id: $id, patch: { name: "Hijacked" }) { id name } }`,
    variables: (f) => ({ id: f.productIds[0] }),
    codes: ["UNAUTHENTICATED"],
  },
  {
    name: "a staff mutation as a customer",
    query: `mutation($id: ID!) { adjustStock(productId: $id, delta: 5) { id stock } }`,
    variables: (f) => ({ id: f.productIds[0] }),
    as: "customer",
    codes: ["FORBIDDEN"],
  },
  { name: "an @auth root query as anonymous (401)", query: `{ cart { id itemCount } }`, codes: ["UNAUTHENTICATED"] },
  {
    name: "null propagation: a refused non-null field nulls its parents up to the nullable node",
    query: `query($o: ID!) { o: node(id: $o) { id ... on Order { number customer { name email } } } eventCursorType: __typename }`,
    variables: (f) => ({ o: f.orderId }),
    as: "staff",
    codes: ["FORBIDDEN"],
  },
  {
    name: "null propagation through a list of non-null edges to a non-null root field",
    query: `{ orders(first: 3) { totalCount edges { node { number customer { email } } } } me { name } }`,
    as: "staff",
    // The first refusal nulls the whole connection; graphql-js reports no other.
    codes: ["FORBIDDEN"],
  },
  { name: "a variable of the wrong type", query: `query($n: Int) { products(first: $n) { totalCount } }`, variables: () => ({ n: "ten" }), codes: ["BAD_USER_INPUT"] },
  { name: "a required variable missing", query: `query($id: ID!) { node(id: $id) { id } }`, codes: ["BAD_USER_INPUT"] },
  {
    name: "an enum variable that is no value of its enum, and an input object with an unknown field",
    query: `query($s: OrderStatus, $f: ProductFilter) { orders(status: $s) { totalCount } products(filter: $f) { totalCount } }`,
    variables: () => ({ s: "LOST", f: { colour: "red" } }),
    as: "customer",
    codes: ["BAD_USER_INPUT", "BAD_USER_INPUT"],
  },
  {
    name: "a mutation that succeeds (idempotent: the same answer both times)",
    query: `mutation { setNotificationPreference(category: PROMOTIONS, enabled: true) { category enabled } }`,
    as: "customer",
  },
  {
    name: "a mutation with Money and nested objects in its answer",
    query: `mutation($id: ID!) { setCartItemQuantity(productId: $id, quantity: 2) { itemCount items { quantity lineTotal { amountCents currency } product { id name } } subtotal { amountCents currency } } }`,
    variables: (f) => ({ id: f.productIds[1] }),
    as: "customer",
  },
  {
    name: "a mutation failing in its service (NOT_FOUND)",
    query: `mutation($id: ID!) { addToCart(productId: $id, quantity: 1) { id } }`,
    variables: () => ({ id: toGlobalId("Product", "00000000-0000-4000-8000-000000000000") }),
    as: "customer",
    codes: ["NOT_FOUND"],
  },
  { name: "introspection refused by validation (INTROSPECTION=false)", query: `{ __schema { types { name } } }`, codes: ["BAD_USER_INPUT", "BAD_USER_INPUT"] },
  { name: "__type refused as well", query: `{ __type(name: "Product") { name } }`, codes: ["BAD_USER_INPUT"] },
  { name: "an unknown field (validation)", query: `{ products { nope } }`, codes: ["BAD_USER_INPUT"] },
  { name: "several operations and no operationName", query: `query A { categories { name } } query B { __typename }`, codes: ["BAD_USER_INPUT"] },
  {
    name: "several operations, one chosen by operationName",
    query: `query A { categories { name } } query B { products(first: 1) { edges { node { name } } } }`,
    operationName: "B",
  },
];

async function send(app: App, c: Case, fixtures: Fixtures, token: string | undefined) {
  const response = await fetch(app.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: c.query, variables: c.variables?.(fixtures) ?? {}, ...(c.operationName ? { operationName: c.operationName } : {}) }),
  });
  return { status: response.status, cacheControl: response.headers.get("cache-control"), body: await response.json() };
}

describe("GRAPHQL_EXECUTOR: jit answers exactly as graphql-js", () => {
  const state = {} as { jit: App; js: App; tokens: Record<"customer" | "staff", string>; fixtures: Fixtures; jitRunsBefore: number };
  beforeAll(async () => {
    state.jit = await db.start({ env: { ...SERVER_ENV, GRAPHQL_EXECUTOR: "jit" } });
    state.js = await db.start({ env: { ...SERVER_ENV, GRAPHQL_EXECUTOR: "graphql-js" } });
    // One DATA_DIR: both servers sign with the same key, so one token works on both.
    state.tokens = { customer: await logIn(state.jit.url, DEMO.customer), staff: await logIn(state.jit.url, DEMO.staff) };
    const me = await request(state.jit.url, ExecutorFixturesDocument, {}, state.tokens.customer);
    state.fixtures = {
      productIds: (await someProducts(state.jit.url, 2)).map((p) => p.id),
      categoryId: me.data!.categories[0]!.id,
      orderId: me.data!.orders.edges[0]!.node.id,
      customerId: me.data!.me!.id,
    };
    state.jitRunsBefore = await metricValue(state.jit.url, `cartwheel_graphql_executions_total{executor="jit"`);
  });

  it.each(CASES)("$name", async (c) => {
    const token = c.as && state.tokens[c.as];
    const fromJit = await send(state.jit, c, state.fixtures, token);
    const fromJs = await send(state.js, c, state.fixtures, token);
    expect(fromJit).toEqual(fromJs);
    // The case tests what it says it does.
    const codes = ((fromJit.body.errors ?? []) as { extensions: { code: string } }[]).map((e) => e.extensions.code).sort();
    expect(codes).toEqual(c.codes ?? []);
    if (c.cacheControl) expect(fromJit.cacheControl).toBe(c.cacheControl);
  });

  it("jit is what ran them (graphql-js only for the variables that did not coerce and the unresolved operation); GRAPHQL_EXECUTOR=graphql-js compiles nothing", async () => {
    const ran = (app: App, labels: string) => metricValue(app.url, `cartwheel_graphql_executions_total{${labels}`);
    // Every case but the 3 that validation refuses and the 4 below.
    expect((await ran(state.jit, `executor="jit",path="jit"`)) - state.jitRunsBefore).toBe(CASES.length - 7);
    expect(await ran(state.jit, `executor="graphql-js",path="variables"`)).toBe(3);
    expect(await ran(state.jit, `executor="graphql-js",path="no-operation"`)).toBe(1);
    expect(await metricValue(state.jit.url, "cartwheel_graphql_compiled_documents")).toBeGreaterThanOrEqual(CASES.length - 7);
    expect(await metricValue(state.js.url, "cartwheel_graphql_executions_total")).toBeNaN();
    expect(await metricValue(state.js.url, "cartwheel_graphql_compiled_documents")).toBe(0);
  });

  it("GRAPHQL_JIT_CACHE_SIZE bounds the compiled documents; evicted ones still answer", async () => {
    const small = await db.start({ env: { ...SERVER_ENV, GRAPHQL_JIT_CACHE_SIZE: "3" } });
    const queries = ["name", "slug", "stock", "inStock", "status"].map((field) => `{ products(first: 2) { edges { node { ${field} } } } }`);
    for (let round = 0; round < 2; round++) {
      for (const query of queries) {
        const res = await gql<{ products: { edges: unknown[] } }>(small.url, query);
        expect(res.errors).toBeUndefined();
        expect(res.data!.products.edges).toHaveLength(2);
      }
      expect(await metricValue(small.url, "cartwheel_graphql_compiled_documents")).toBe(3);
    }
    expect(await metricValue(small.url, `cartwheel_graphql_executions_total{executor="jit"`)).toBe(10);
  });
});

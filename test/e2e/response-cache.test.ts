// The shared response cache of public catalog operations (server/response-cache.ts): two instances
// sharing one database and one Redis prefix, an instance without Redis, one with it switched off,
// and one whose Redis is cut. Every wait is on the event itself (a subscriber on the instance that
// must have been told), bounded.
import { createHash, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { transactional } from "../../src/db/transaction.ts";
import { ALL, event, type TopicName } from "../../src/events/topics.ts";
import { keyOf } from "../../src/lib/ids.ts";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import {
  AdjustStockDocument,
  CategoryIdsDocument,
  MeIdDocument,
  RcCreateProductDocument,
  RcListingDocument,
  RcMoveProductDocument,
  RcProductPriceDocument,
  RcSearchCategoryDocument,
  RcSearchCostDocument,
  RcSearchNamesDocument,
  UpdateProductPriceDocument,
} from "../generated/graphql.ts";
import { DEMO, REDIS_URL, gql, logIn, metricValue, nextWithin, someProducts, textOf, useDatabase, useInstancePair } from "../harness/index.ts";
import { startProxy, type TcpProxy } from "../harness/proxy.ts";

const pair = useInstancePair();
let staff: string;
let customer: string;
beforeAll(async () => {
  [staff, customer] = await Promise.all([logIn(pair.a.url, DEMO.staff), logIn(pair.a.url, DEMO.customer)]);
});

interface Answer<R> {
  status: number;
  body: { data?: R; errors?: { extensions: { code: string } }[] };
  headers: Headers;
}

/** POSTs a generated document (typed result) or a text whose result the test does not read. */
async function post<R, V>(url: string, query: TypedDocumentNode<R, V>, variables?: V, token?: string): Promise<Answer<R>>;
async function post(url: string, query: string, variables?: Record<string, unknown>, token?: string): Promise<Answer<unknown>>;
async function post(url: string, query: string | TypedDocumentNode, variables: unknown = {}, token?: string): Promise<Answer<unknown>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: typeof query === "string" ? query : textOf(query), variables }),
  });
  return { status: res.status, body: (await res.json()) as Answer<unknown>["body"], headers: res.headers };
}

const metric = (app: App, name: string) => metricValue(app.url, name).then((v) => (Number.isNaN(v) ? 0 : v));
const hits = (app: App, layer = "http") => metric(app, `cartwheel_response_cache_hits_total{layer="${layer}"`);
const sql = (app: App) => metric(app, "cartwheel_sql_statements_total");

/** The next event of `topic` handed out on `app` (its response cache has been told by then). */
function nextEvent(app: App, topic: TopicName, id: string) {
  const events = app.bus.subscribe(topic, [id]);
  return async () => {
    try {
      return await nextWithin(events, 5_000);
    } finally {
      await events.return?.();
    }
  };
}

const adjustStock = (url: string, productId: string, delta: number) =>
  post(url, AdjustStockDocument, { productId, delta }, staff);

const LISTING = RcListingDocument;

describe("across two instances sharing Redis", () => {
  it("a hit costs no SQL; after adjustStock commits on A, the next products on B shows the new stock", async () => {
    const first = await post(pair.b.url, LISTING, { first: 7 });
    expect(first.body.errors).toBeUndefined();
    const before = { hits: await hits(pair.b), sql: await sql(pair.b) };
    // Served from the entry B stored, on B and on A alike.
    const again = await post(pair.b.url, LISTING, { first: 7 });
    expect(again.body).toEqual(first.body);
    expect(await hits(pair.b)).toBe(before.hits + 1);
    expect(await sql(pair.b)).toBe(before.sql);
    // A has not seen the document: its first request finds B's entry after Apollo's checks
    // (graphql layer), and from then on before them (http layer).
    const hitsOnA = { http: await hits(pair.a), graphql: await hits(pair.a, "graphql") };
    const onA = await post(pair.a.url, LISTING, { first: 7 });
    expect(onA.body).toEqual(first.body);
    expect(await hits(pair.a, "graphql")).toBe(hitsOnA.graphql + 1);
    expect((await post(pair.a.url, LISTING, { first: 7 })).body).toEqual(first.body);
    expect(await hits(pair.a)).toBe(hitsOnA.http + 1);

    const product = first.body.data!.products.edges[0]!.node;
    const told = nextEvent(pair.b, "STOCK_CHANGED", keyOf(product.id, "Product")!);
    const stale = await metric(pair.b, "cartwheel_response_cache_stale_total");
    const invalidations = await metric(pair.b, "cartwheel_response_cache_invalidations_total");
    expect((await adjustStock(pair.a.url, product.id, 3)).body.errors).toBeUndefined();
    await told();
    const after = await post(pair.b.url, LISTING, { first: 7 });
    expect(after.body.data!.products.edges[0]!.node.stock).toBe(product.stock + 3);
    expect(await metric(pair.b, "cartwheel_response_cache_stale_total")).toBe(stale + 1);
    expect(await metric(pair.b, "cartwheel_response_cache_invalidations_total")).toBeGreaterThan(invalidations);
    // A was told at its own commit: its very next answer is fresh too.
    expect((await post(pair.a.url, LISTING, { first: 7 })).body.data!.products.edges[0]!.node.stock).toBe(product.stock + 3);
  });

  it("a price change (updateProduct) on A reaches the next answer on B", async () => {
    const query = RcProductPriceDocument;
    const [product] = await someProducts(pair.a.url, 1);
    await post(pair.b.url, query, { id: product!.id });
    const warm = await hits(pair.b);
    expect((await post(pair.b.url, query, { id: product!.id })).body.data!.product!.price.amountCents).toBe(product!.priceCents);
    expect(await hits(pair.b)).toBe(warm + 1);
    const told = nextEvent(pair.b, "PRODUCT_UPDATED", keyOf(product!.id, "Product")!);
    const updated = await post(pair.a.url, UpdateProductPriceDocument, { id: product!.id, priceCents: product!.priceCents + 100 }, staff);
    expect(updated.body.errors).toBeUndefined();
    await told();
    expect((await post(pair.b.url, query, { id: product!.id })).body.data!.product!.price.amountCents).toBe(product!.priceCents + 100);
  });

  it("a product created on A, and one moved to another category, reach the listings cached on B", async () => {
    const name = `Fresh ${randomUUID().slice(0, 8)}`;
    const query = RcSearchCategoryDocument;
    const categories = (await post(pair.a.url, CategoryIdsDocument)).body.data!.categories;
    expect((await post(pair.b.url, query, { search: name })).body.data!.products.totalCount).toBe(0);
    // Cached on B: the repeat is a hit, so what follows proves the entry is refused, not absent.
    let warm = await hits(pair.b);
    await post(pair.b.url, query, { search: name });
    expect(await hits(pair.b)).toBe(warm + 1);
    let stale = await metric(pair.b, "cartwheel_response_cache_stale_total");
    const created = nextEvent(pair.b, "CATALOG_CHANGED", ALL);
    const input = { slug: `fresh-${randomUUID().slice(0, 12)}`, name, description: "new", priceCents: 500, categoryId: categories[0]!.id };
    const made = await post(pair.a.url, RcCreateProductDocument, { input }, staff);
    expect(made.body.errors).toBeUndefined();
    await created();
    const listed = await post(pair.b.url, query, { search: name });
    expect(listed.body.data!.products).toMatchObject({ totalCount: 1, edges: [{ node: { name, category: { id: categories[0]!.id } } }] });
    expect(await metric(pair.b, "cartwheel_response_cache_stale_total")).toBe(stale + 1);

    // Only the category changes: no productUpdated, but the catalog shows it.
    warm = await hits(pair.b);
    await post(pair.b.url, query, { search: name });
    expect(await hits(pair.b)).toBe(warm + 1);
    stale = await metric(pair.b, "cartwheel_response_cache_stale_total");
    const moved = nextEvent(pair.b, "CATALOG_CHANGED", ALL);
    const patch = await post(pair.a.url, RcMoveProductDocument, { id: made.body.data!.createProduct.id, c: categories[1]!.id }, staff);
    expect(patch.body.errors).toBeUndefined();
    await moved();
    expect((await post(pair.b.url, query, { search: name })).body.data!.products.edges[0]!.node.category.id).toBe(categories[1]!.id);
    expect(await metric(pair.b, "cartwheel_response_cache_stale_total")).toBe(stale + 1);
  });

  it("creating a draft changes nothing anyone but staff sees: cached answers stay fresh", async () => {
    const categories = (await post(pair.a.url, CategoryIdsDocument)).body.data!.categories;
    await post(pair.a.url, LISTING, { first: 9 });
    const before = { hits: await hits(pair.a), stale: await metric(pair.a, "cartwheel_response_cache_stale_total"), invalidations: await metric(pair.a, "cartwheel_response_cache_invalidations_total") };
    const input = { slug: `draft-${randomUUID().slice(0, 12)}`, name: "Draft", description: "not yet", priceCents: 900, categoryId: categories[0]!.id, status: "DRAFT" as const };
    expect((await post(pair.a.url, RcCreateProductDocument, { input }, staff)).body.data!.createProduct.status).toBe("DRAFT");
    // A is told of its own commits before it answers (see "the bus tells observers…"): a draft that
    // invalidated would make this a refusal (stale), not a hit.
    await post(pair.a.url, LISTING, { first: 9 });
    expect(await hits(pair.a)).toBe(before.hits + 1);
    expect(await metric(pair.a, "cartwheel_response_cache_stale_total")).toBe(before.stale);
    expect(await metric(pair.a, "cartwheel_response_cache_invalidations_total")).toBe(before.invalidations);
  });

  it("a hit answers with the headers Apollo answered the miss with (and an Age), over POST and over GET by APQ hash", async () => {
    const query = `{ categories { name } }`;
    const miss = await post(pair.a.url, query);
    const warm = await hits(pair.a);
    const hit = await post(pair.a.url, query);
    expect(await hits(pair.a)).toBe(warm + 1);
    const relevant = (h: Headers) => Object.fromEntries([...h].filter(([k]) => !["date", "age", "keep-alive", "connection", "content-length", "x-request-id"].includes(k)));
    expect(relevant(hit.headers)).toEqual(relevant(miss.headers));
    expect(hit.headers.get("cache-control")).toBe("max-age=10, public");
    expect(hit.headers.get("age")).toMatch(/^\d+$/);
    expect(Number(hit.headers.get("age"))).toBeLessThan(10);
    expect(hit.body).toEqual(miss.body);

    const hash = createHash("sha256").update(query).digest("hex");
    const register = await fetch(pair.a.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }) });
    expect(register.status).toBe(200);
    const search = new URLSearchParams({ extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } }) });
    const byGet = await fetch(`${pair.b.url}?${search}`, { headers: { accept: "application/graphql-response+json" } });
    const beforeGet = await hits(pair.b);
    const byGetAgain = await fetch(`${pair.b.url}?${search}`, { headers: { accept: "application/graphql-response+json" } });
    expect(await hits(pair.b)).toBe(beforeGet + 1);
    expect(byGetAgain.headers.get("content-type")).toBe(byGet.headers.get("content-type"));
    expect(await byGetAgain.json()).toEqual(miss.body);
  });
});

describe("being told", () => {
  it("the bus tells observers of its own commits at once, before it hands them out", async () => {
    const seen: number[] = [];
    const stop = pair.a.bus.onEvents(["CATALOG_CHANGED"], (position) => seen.push(position));
    try {
      const next = pair.a.bus.position;
      await transactional(pair.a.db.prisma, pair.a.bus, async (_tx, emit) => emit(event("CATALOG_CHANGED", ALL, { productId: randomUUID() })));
      // Still in the turn of the commit: handed out only after it (bus.committed), observed already.
      expect(pair.a.bus.position).toBe(next);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeGreaterThanOrEqual(next);
    } finally {
      stop();
    }
  });
});

describe("what is not cacheable", () => {
  it("a document whose operation cannot be chosen is the client's error, not the cache's (the jit gateway lets Apollo pass it on)", async () => {
    const res = await gql(pair.b.url, `query A { categories { id } } query B { categories { name } }`);
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(["BAD_USER_INPUT"]);
  });
});

describe("who shares an entry", () => {
  it("a customer gets the anonymous entry when no private field is selected (and its answer stays private)", async () => {
    const variables = { first: 3 };
    const anonymous = await post(pair.a.url, LISTING, variables);
    const before = await hits(pair.a, "graphql");
    const signedIn = await post(pair.a.url, LISTING, variables, customer);
    expect(signedIn.body).toEqual(anonymous.body);
    expect(await hits(pair.a, "graphql")).toBe(before + 1);
    expect(signedIn.headers.get("cache-control")).toBe("max-age=10, private");
  });

  it("staff bypass it: their drafts never reach anyone else, nor does their costPrice", async () => {
    const name = `Draft ${randomUUID().slice(0, 8)}`;
    const categoryId = (await post(pair.a.url, CategoryIdsDocument)).body.data!.categories[0]!.id;
    const input = { slug: `draft-${randomUUID().slice(0, 12)}`, name, description: "draft", priceCents: 700, costCents: 300, categoryId, status: "DRAFT" as const };
    expect((await post(pair.a.url, RcCreateProductDocument, { input }, staff)).body.errors).toBeUndefined();
    const listing = RcSearchNamesDocument;
    const stores = () => metric(pair.a, "cartwheel_response_cache_stores_total");
    const bypassed = await metric(pair.a, `cartwheel_response_cache_bypasses_total{reason="staff"`);
    const beforeStaff = await stores();
    expect((await post(pair.a.url, listing, { search: name }, staff)).body.data!.products.totalCount).toBe(1);
    expect(await metric(pair.a, `cartwheel_response_cache_bypasses_total{reason="staff"`)).toBe(bypassed + 1);
    expect(await stores()).toBe(beforeStaff);
    expect((await post(pair.a.url, listing, { search: name })).body.data!.products.totalCount).toBe(0);
    expect((await post(pair.a.url, listing, { search: name }, customer)).body.data!.products.totalCount).toBe(0);

    const withCost = RcSearchCostDocument;
    const beforeCost = await stores();
    const byStaff = await post(pair.a.url, withCost, { search: name }, staff);
    expect(byStaff.body.data!.products.edges[0]!.node.costPrice!.amountCents).toBe(300);
    expect(await stores()).toBe(beforeCost);
    for (const token of [undefined, customer]) {
      const other = await post(pair.a.url, withCost, { search: name }, token);
      expect(other.body.data!.products.edges).toEqual([]);
    }
    expect(await stores()).toBe(beforeCost);
  });

  it("with a private field selected nothing is stored, for anyone", async () => {
    const query = `{ products(first: 2) { edges { node { name costPrice { amountCents } } } } }`;
    const stores = await metric(pair.b, "cartwheel_response_cache_stores_total");
    const anonymous = await post(pair.b.url, query);
    expect(anonymous.body.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    const byCustomer = await post(pair.b.url, query, {}, customer);
    expect(byCustomer.body.errors?.[0]?.extensions.code).toBe("FORBIDDEN");
    expect(await metric(pair.b, "cartwheel_response_cache_stores_total")).toBe(stores);
    expect(await metric(pair.b, `cartwheel_response_cache_bypasses_total{reason="not_public"`)).toBeGreaterThanOrEqual(2);
  });
});

describe("without Redis, switched off, and with Redis cut", () => {
  const db = useDatabase();
  const proxies: TcpProxy[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(() => void process.on("unhandledRejection", onUnhandled));
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await Promise.all(proxies.map((p) => p.close()));
  });

  it("in memory on one instance: hits cost no SQL, and its own adjustStock shows at once", async () => {
    const app = await db.start();
    const staffToken = await logIn(app.url, DEMO.staff);
    const first = await post(app.url, LISTING, { first: 4 });
    const before = { hits: await hits(app), sql: await sql(app) };
    expect((await post(app.url, LISTING, { first: 4 })).body).toEqual(first.body);
    expect(await hits(app)).toBe(before.hits + 1);
    expect(await sql(app)).toBe(before.sql);
    const product = first.body.data!.products.edges[0]!.node;
    const adjusted = await post(app.url, AdjustStockDocument, { productId: product.id, delta: 2 }, staffToken);
    expect(adjusted.body.errors).toBeUndefined();
    expect((await post(app.url, LISTING, { first: 4 })).body.data!.products.edges[0]!.node.stock).toBe(product.stock + 2);
  });

  it("an instance that starts after a change refuses entries stored before it", async () => {
    const prefix = `cwtest:${randomUUID().slice(0, 8)}:`;
    const first = await db.start({ redisPrefix: prefix });
    const staffToken = await logIn(first.url, DEMO.staff);
    const warm = await post(first.url, LISTING, { first: 6 });
    const product = warm.body.data!.products.edges[0]!.node;
    expect((await post(first.url, AdjustStockDocument, { productId: product.id, delta: 4 }, staffToken)).body.errors).toBeUndefined();
    const later = await db.start({ redisPrefix: prefix });
    expect((await post(later.url, LISTING, { first: 6 })).body.data!.products.edges[0]!.node.stock).toBe(product.stock + 4);
    expect(await metric(later, "cartwheel_response_cache_stale_total")).toBe(1);
  });

  it("only cacheable documents are looked up: anonymous mutations and private queries count no miss", async () => {
    const app = await db.start();
    const misses = () => metric(app, "cartwheel_response_cache_misses_total");
    await post(app.url, LISTING, { first: 3 });
    expect(await misses()).toBe(1);
    for (let i = 0; i < 3; i++) {
      const wrong = await post(app.url, `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`, { e: DEMO.customer.email, p: `wrong-${i}` });
      expect(wrong.body.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
      expect((await post(app.url, MeIdDocument)).body.data).toEqual({ me: null });
    }
    expect(await misses()).toBe(1);
    // A cacheable document's new variables are a miss, looked up before Apollo.
    await post(app.url, LISTING, { first: 2 });
    expect(await misses()).toBe(2);
    // A hit before Apollo is timed as the query it answers, under the document's operation name.
    const timed = () => metric(app, 'cartwheel_graphql_operation_duration_seconds_count{type="query",name="Categories",transport="http"}');
    const hitsBefore = await hits(app);
    for (let i = 0; i < 3; i++) await post(app.url, `query Categories { categories { id name } }`);
    expect(await hits(app)).toBe(hitsBefore + 2);
    expect(await timed()).toBe(3);
  });

  it("RESPONSE_CACHE=false: every request executes, nothing is counted", async () => {
    const app = await db.start({ env: { RESPONSE_CACHE: "false" } });
    await post(app.url, LISTING, { first: 4 });
    const before = await sql(app);
    const again = await post(app.url, LISTING, { first: 4 });
    expect(again.body.errors).toBeUndefined();
    expect(again.headers.get("cache-control")).toBe("max-age=10, public");
    expect(await sql(app)).toBeGreaterThan(before);
    expect(await metric(app, "cartwheel_response_cache_hits_total")).toBe(0);
    expect(await metric(app, "cartwheel_response_cache_misses_total")).toBe(0);
  });

  it("Redis cut or hanging: misses answered 200 by execution, errors counted, nothing unhandled", async () => {
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    proxies.push(proxy);
    const app = await db.start({ redisPrefix: `cwtest:${randomUUID().slice(0, 8)}:`, env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } });
    const first = await post(app.url, LISTING, { first: 5 });
    expect((await post(app.url, LISTING, { first: 5 })).body).toEqual(first.body);
    expect(await hits(app)).toBe(1);

    // A Redis that accepts but never answers: the short command timeout makes it a miss.
    proxy.freeze();
    const errors = await metric(app, "cartwheel_response_cache_errors_total");
    const started = Date.now();
    const whileFrozen = await post(app.url, LISTING, { first: 5 });
    expect(whileFrozen.status).toBe(200);
    expect(whileFrozen.body).toEqual(first.body);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await metric(app, "cartwheel_response_cache_errors_total")).toBeGreaterThan(errors);

    proxy.cut();
    const cutErrors = await metric(app, "cartwheel_response_cache_errors_total");
    const whileCut = await post(app.url, LISTING, { first: 5 });
    expect(whileCut.status).toBe(200);
    expect(whileCut.body).toEqual(first.body);
    expect(await hits(app)).toBe(1);
    expect(await metric(app, "cartwheel_response_cache_errors_total")).toBeGreaterThan(cutErrors);
    proxy.restore();
    expect(unhandled).toEqual([]);
  });
});

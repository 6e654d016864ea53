import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, type Client } from "graphql-ws";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { RedisKeyValueCache } from "../../src/server/persisted/apq-cache.ts";
import { createLogger } from "../../src/server/logger.ts";
import {
  AdjustStockDocument,
  CartVersionDocument,
  CategoryIdsDocument,
  MeEmailDocument,
  OrderCountAndCostPriceDocument,
  OrderCountDocument,
  ProductCountDocument,
  SetUserRoleDocument,
  StockOnlyDocument,
  UserCountDocument,
} from "../generated/graphql.ts";
import {
  DEMO,
  REDIS_URL,
  createTestDatabase,
  logIn,
  nextWithin,
  request,
  someProducts,
  startTestServer,
  subscribe,
  tempDir,
  textOf,
  useInstancePair,
  waitForSubscribers,
} from "../harness/index.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

// The app's manifest as codegen wrote it; the partner gets a subset of it.
const APP_MANIFEST = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
const byName = (name: string) => {
  const found = Object.entries(APP_MANIFEST).find(([, text]) => new RegExp(`(query|mutation|subscription) ${name}\\b`).test(text));
  if (!found) throw new Error(`${name} is not in the app manifest`);
  return { id: found[0], hash: found[0].replace("sha256:", ""), text: found[1] };
};
const PRODUCTS = byName("Products");
const STOCK_CHANGED = byName("StockChanged");
const CATEGORIES = byName("Categories"); // in the app manifest, not the partner's

const PARTNER_KEY = `cwp_${randomBytes(24).toString("base64url")}`;
const partnerDir = tempDir("cartwheel-partners-");
writeFileSync(join(partnerDir.path, "acme.json"), JSON.stringify({ [PRODUCTS.id]: PRODUCTS.text, [STOCK_CHANGED.id]: STOCK_CHANGED.text }));
writeFileSync(
  join(partnerDir.path, "partners.json"),
  JSON.stringify({ partners: [{ id: "acme", keySha256: sha256(PARTNER_KEY), manifest: "acme.json" }] }),
);
afterAll(() => partnerDir.remove());

const pair = useInstancePair({ PARTNERS_FILE: join(partnerDir.path, "partners.json") });

/**
 * `R`: what the test reads of the data. Texts made per run, sent by hash or registered under one
 * stay text; what is sent as plain text (to be refused, or run for staff) is a generated document.
 */
interface Response<R = unknown> {
  status: number;
  data?: R;
  errors?: { message: string; extensions: { code: string } }[];
}
type Categories = { categories: { id: string }[] };
type Edges = { products: { edges: unknown[] } };
type LoggedIn = { logIn: { accessToken: string } };
type SignedUp = { signUp: { accessToken: string; user: { id: string } } };
type OrderCount = { orders: { totalCount: number } };

async function post<R = unknown>(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response<R>> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, ...((await res.json()) as Omit<Response<R>, "status">) };
}

async function get<R = unknown>(url: string, params: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response<R>> {
  const search = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  const res = await fetch(`${url}?${search}`, { headers: { "apollo-require-preflight": "true", ...headers } });
  return { status: res.status, ...((await res.json()) as Omit<Response<R>, "status">) };
}

const apq = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });
const codeOf = (res: { errors?: { extensions: { code: string } }[] }) => res.errors?.[0]?.extensions.code;

function socket(url: string, params: Record<string, unknown>): Client {
  return createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: params, onNonLazyError: () => {} });
}

describe("Automatic Persisted Queries", () => {
  it("answers an unknown hash with PERSISTED_QUERY_NOT_FOUND, registers it, and then runs it by hash on another instance (Redis)", async () => {
    // A document no earlier run can have registered.
    const query = `query Apq${randomUUID().replace(/-/g, "")} { products(first: 2) { totalCount edges { node { id name } } } }`;
    const hash = sha256(query);

    const miss = await get(pair.a.url, { extensions: apq(hash) });
    expect(codeOf(miss)).toBe("PERSISTED_QUERY_NOT_FOUND");
    expect(miss.data).toBeUndefined();

    const registered = await post<Edges>(pair.a.url, { query, extensions: apq(hash) });
    expect(registered.errors).toBeUndefined();
    expect(registered.data!.products.edges).toHaveLength(2);

    // The other instance has never seen the text: it finds it in the shared Redis.
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.get(`${pair.prefix}apq:${hash}`)).toBe(query);
    } finally {
      redis.disconnect();
    }
    const viaGet = await get(pair.b.url, { extensions: apq(hash) });
    expect(viaGet.status).toBe(200);
    expect(viaGet.data).toEqual(registered.data);
    const viaPost = await post(pair.b.url, { extensions: apq(hash) });
    expect(viaPost.data).toEqual(registered.data);
  });

  it("works over WebSocket too: hash-only is PERSISTED_QUERY_NOT_FOUND until registered, then runs on another instance", async () => {
    // Not the product the partner test subscribes to: each test counts its own subscribers.
    const [, product] = await someProducts(pair.a.url, 2);
    const query = `subscription Apq${randomUUID().replace(/-/g, "")}($ids: [ID!]!) { stockChanged(productIds: $ids) { product { id stock } } }`;
    const hash = sha256(query);
    const a = socket(pair.a.wsUrl, {});
    const b = socket(pair.b.wsUrl, {});
    const staff = await logIn(pair.a.url, DEMO.staff);
    try {
      const early = b.iterate({ query: "", variables: { ids: [product!.id] }, extensions: apq(hash) });
      await expect(nextWithin(early)).rejects.toMatchObject([{ extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } }]);

      const channel = `${pair.prefix}STOCK_CHANGED:${keyOf(product!.id, "Product")}`;
      const registering = a.iterate({ query, variables: { ids: [product!.id] }, extensions: apq(hash) });
      // Listening means registered: the text is stored before the subscription starts.
      await waitForSubscribers(channel, 1);
      const byHash = b.iterate({ query: "", variables: { ids: [product!.id] }, extensions: apq(hash) });
      await waitForSubscribers(channel, 2);
      const adjusted = await request(pair.a.url, AdjustStockDocument, { productId: product!.id, delta: 2 }, staff);
      const expected = { stockChanged: { product: { id: product!.id, stock: adjusted.data!.adjustStock.stock } } };
      expect((await nextWithin(registering)).data).toEqual(expected);
      expect((await nextWithin(byHash)).data).toEqual(expected);
      await Promise.all([registering.return?.(), byHash.return?.()]);

      const mismatched = a.iterate({ query, extensions: apq(sha256(`${query} `)) });
      await expect(nextWithin(mismatched)).rejects.toMatchObject([{ extensions: { code: "BAD_USER_INPUT" } }]);
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });

  it("rejects a hash that does not match its query, and does not register it", async () => {
    const query = `{ products(first: 1) { totalCount } }`;
    const wrong = sha256(`${query} # ${randomUUID()}`);
    const res = await post(pair.a.url, { query, extensions: apq(wrong) });
    expect(res.status).toBe(400);
    expect(codeOf(res)).toBe("BAD_USER_INPUT");
    expect(res.data).toBeUndefined();
    expect(codeOf(await get(pair.a.url, { extensions: apq(wrong) }))).toBe("PERSISTED_QUERY_NOT_FOUND");
    expect(codeOf(await post(pair.a.url, { query, extensions: { persistedQuery: { version: 2, sha256Hash: sha256(query) } } }))).toBe(
      "BAD_USER_INPUT",
    );
  });
});

describe("APQ edge cases", () => {
  it("an empty query next to a hash is hash-only; upper-case or prefixed hashes are refused as bad input", async () => {
    const query = `query Edge${randomUUID().replace(/-/g, "")} { categories { id } }`;
    const hash = sha256(query);
    expect(codeOf(await post(pair.a.url, { query: "", extensions: apq(hash) }))).toBe("PERSISTED_QUERY_NOT_FOUND");
    await post(pair.a.url, { query, extensions: apq(hash) });
    expect((await post<Categories>(pair.b.url, { query: "", extensions: apq(hash) })).data!.categories.length).toBeGreaterThan(0);
    expect((await get<Categories>(pair.b.url, { query: "", extensions: apq(hash) })).data!.categories.length).toBeGreaterThan(0);
    for (const bad of [hash.toUpperCase(), `sha256:${hash}`, hash.slice(1)]) {
      const res = await post(pair.a.url, { query, extensions: apq(bad) });
      expect(res.status).toBe(400);
      expect(codeOf(res)).toBe("BAD_USER_INPUT");
    }
  });

  it("a browser following a persisted-query GET link gets the JSON, not the explorer", async () => {
    const query = `query Link${randomUUID().replace(/-/g, "")} { categories { id } }`;
    await post(pair.a.url, { query, extensions: apq(sha256(query)) });
    const search = new URLSearchParams({ extensions: JSON.stringify(apq(sha256(query))) });
    const res = await fetch(`${pair.a.url}?${search}`, {
      headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8", "apollo-require-preflight": "true" },
    });
    expect(res.headers.get("content-type")).toMatch(/json/);
    expect(((await res.json()) as Response<Categories>).data!.categories.length).toBeGreaterThan(0);
  });

  it("over WebSocket, text that does not parse or validate is refused and not stored; an empty query is bad input, not a dead socket", async () => {
    const text = `not graphql ${randomUUID()}`;
    const client = socket(pair.a.wsUrl, {});
    try {
      const garbage = client.iterate({ query: text, extensions: apq(sha256(text)) });
      await expect(nextWithin(garbage)).rejects.toMatchObject([{ extensions: { code: "BAD_USER_INPUT" } }]);
      const invalid = client.iterate({ query: "{ noSuchField }" });
      await expect(nextWithin(invalid)).rejects.toMatchObject([{ extensions: { code: "BAD_USER_INPUT", reason: "GRAPHQL_VALIDATION_FAILED" } }]);
      const empty = client.iterate({ query: "" });
      await expect(nextWithin(empty)).rejects.toMatchObject([{ extensions: { code: "BAD_USER_INPUT" } }]);
      // The socket survived both: it still serves operations.
      const after = subscribe(client, CategoryIdsDocument);
      expect((await nextWithin(after)).data?.categories.length).toBeGreaterThan(0);
    } finally {
      await client.dispose();
    }
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.exists(`${pair.prefix}apq:${sha256(text)}`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it("with Redis unreachable the APQ store answers a miss at once and drops writes, without failing the request", async () => {
    // Reconnecting forever, and a command would wait for the connection forever: a store that
    // sent commands anyway would never answer, and the bounded wait below would fail.
    const dead = new Redis({ host: "127.0.0.1", port: 1, maxRetriesPerRequest: null, retryStrategy: () => 200 });
    dead.on("error", () => {});
    const cache = new RedisKeyValueCache(dead, "x:", createLogger("silent"));
    const within = <T>(promise: Promise<T>) =>
      Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the APQ store waited for Redis")), 2_000).unref())]);
    try {
      await expect(within(cache.get("apq:anything"))).resolves.toBeUndefined();
      await expect(within(cache.set("apq:anything", "{ __typename }", { ttl: 60 }))).resolves.toBeUndefined();
    } finally {
      dead.disconnect();
    }
  });
});

describe("HTTP caching of GET queries", () => {
  async function cacheControl(query: string, token?: string) {
    const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const registered = await post(pair.a.url, { query, extensions: apq(sha256(query)) }, auth);
    expect(registered.errors).toBeUndefined();
    const search = new URLSearchParams({ extensions: JSON.stringify(apq(sha256(query))) });
    const res = await fetch(`${pair.a.url}?${search}`, { headers: { "apollo-require-preflight": "true", ...auth } });
    expect(res.status).toBe(200);
    return { cacheControl: res.headers.get("cache-control"), vary: res.headers.get("vary") ?? "" };
  }
  const catalog = `{ categories { name products(first: 2) { edges { node { name price { amountCents } } } } } products(first: 3) { totalCount pageInfo { endCursor } edges { node { name stock category { name } } } } }`;

  it("the public catalog is cacheable by shared caches for anonymous callers, and varies by credentials", async () => {
    const anonymous = await cacheControl(catalog);
    expect(anonymous.cacheControl).toBe("max-age=10, public");
    expect(anonymous.vary.toLowerCase()).toContain("authorization");
    expect(anonymous.vary.toLowerCase()).toContain("x-partner-key");
  });

  it("a signed-in caller's response is private, and anything outside the catalog is no-store", async () => {
    const customer = await logIn(pair.a.url, DEMO.customer);
    expect((await cacheControl(catalog, customer)).cacheControl).toBe("max-age=10, private");
    expect((await cacheControl(`{ cart { version } }`, customer)).cacheControl).toBe("no-store");
    expect((await cacheControl(`{ products(first: 1) { totalCount } me { id } }`, customer)).cacheControl).toBe("no-store");
    expect((await cacheControl(`{ node(id: "${(await someProducts(pair.a.url, 1))[0]!.id}") { id } }`)).cacheControl).toBe("no-store");
  });
});

describe("trusted documents for partners", () => {
  const partner = { "x-partner-key": PARTNER_KEY };

  it("runs manifest operations by hash over POST (documentId) and GET (persistedQuery)", async () => {
    const byId = await post<Edges>(pair.a.url, { documentId: PRODUCTS.id, variables: { first: 3 } }, partner);
    expect(byId.errors).toBeUndefined();
    expect(byId.data!.products.edges).toHaveLength(3);
    const byGet = await get(pair.b.url, { extensions: apq(PRODUCTS.hash), variables: { first: 3 } }, partner);
    expect(byGet.errors).toBeUndefined();
    expect(byGet.data).toEqual(byId.data);
  });

  it("refuses arbitrary query text, operations outside its manifest and a text that does not match the hash", async () => {
    const arbitrary = await post(pair.a.url, { query: textOf(ProductCountDocument) }, partner);
    expect(arbitrary.status).toBe(400);
    expect(codeOf(arbitrary)).toBe("PERSISTED_QUERY_NOT_ALLOWED");
    expect(arbitrary.data).toBeUndefined();

    // In the app's manifest but not in this partner's.
    const notTheirs = await post(pair.a.url, { documentId: CATEGORIES.id }, partner);
    expect(codeOf(notTheirs)).toBe("PERSISTED_QUERY_NOT_ALLOWED");

    const smuggled = await post(pair.a.url, { documentId: PRODUCTS.id, query: textOf(UserCountDocument) }, partner);
    expect(codeOf(smuggled)).toBe("PERSISTED_QUERY_NOT_ALLOWED");

    const viaGet = await get(pair.a.url, { query: textOf(CategoryIdsDocument) }, partner);
    expect(codeOf(viaGet)).toBe("PERSISTED_QUERY_NOT_ALLOWED");
  });

  it("leaves methods other than GET and POST to Apollo", async () => {
    const res = await fetch(pair.a.url, { method: "PUT", headers: { "content-type": "application/json", ...partner }, body: "{}" });
    expect(res.status).toBe(405);
  });

  it("refuses an unknown partner key as UNAUTHENTICATED, even for a manifest hash", async () => {
    const res = await post(pair.a.url, { documentId: PRODUCTS.id }, { "x-partner-key": `cwp_${randomBytes(24).toString("base64url")}` });
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe("UNAUTHENTICATED");
    expect(res.data).toBeUndefined();
  });

  it("over WebSocket: a manifest subscription by hash delivers events; arbitrary text and unknown keys are refused", async () => {
    const [product] = await someProducts(pair.a.url, 1);
    const staff = await logIn(pair.b.url, DEMO.staff);
    const client = socket(pair.a.wsUrl, { partnerKey: PARTNER_KEY });
    const stranger = socket(pair.a.wsUrl, { partnerKey: "not-a-key" });
    try {
      // By hash alone: the shape is the app manifest's StockChanged.
      const events = client.iterate<{ stockChanged: { product: { id: string; stock: number } } }>({ query: "", variables: { productIds: [product!.id] }, extensions: apq(STOCK_CHANGED.hash) });
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${keyOf(product!.id, "Product")}`);
      const adjusted = await request(pair.b.url, AdjustStockDocument, { productId: product!.id, delta: 3 }, staff);
      const event = await nextWithin(events);
      expect(event.data?.stockChanged.product).toEqual({ id: product!.id, stock: adjusted.data!.adjustStock.stock });
      await events.return?.();

      const refused = subscribe(client, StockOnlyDocument, { productIds: [product!.id] });
      await expect(nextWithin(refused)).rejects.toMatchObject([{ extensions: { code: "PERSISTED_QUERY_NOT_ALLOWED" } }]);

      const unknown = stranger.iterate({ query: "", variables: { productIds: [product!.id] }, extensions: apq(STOCK_CHANGED.hash) });
      await expect(nextWithin(unknown)).rejects.toMatchObject([{ extensions: { code: "UNAUTHENTICATED" } }]);

      // Not a string is not "no key".
      const odd = socket(pair.a.wsUrl, { partnerKey: [PARTNER_KEY] });
      try {
        const refusedOdd = subscribe(odd, CategoryIdsDocument);
        await expect(nextWithin(refusedOdd)).rejects.toMatchObject([{ extensions: { code: "UNAUTHENTICATED" } }]);
      } finally {
        await odd.dispose();
      }
    } finally {
      await Promise.all([client.dispose(), stranger.dispose()]);
    }
  });

  it("leaves staff and other clients without a partner key unaffected", async () => {
    const staff = await logIn(pair.a.url, DEMO.staff);
    const asStaff = await request(pair.a.url, OrderCountAndCostPriceDocument, {}, staff);
    expect(asStaff.errors).toBeUndefined();
    expect(asStaff.data!.orders.totalCount).toBeGreaterThan(0);
    const anonymous = await request(pair.a.url, ProductCountDocument);
    expect(anonymous.data!.products.totalCount).toBeGreaterThan(0);
  });

  it("counts each partner's operations per manifest operation in /metrics", async () => {
    const metric = async () => {
      const text = await (await fetch(pair.a.url.replace("/graphql", "/metrics"))).text();
      const line = (labels: string) =>
        Number(new RegExp(`^cartwheel_partner_operations_total\\{${labels}\\} (\\d+)`, "m").exec(text)?.[1] ?? 0);
      return {
        allowed: line(`partner="acme",operation="Products",outcome="allowed",transport="http"`),
        refused: line(`partner="acme",operation="\\(not in manifest\\)",outcome="refused",transport="http"`),
      };
    };
    const before = await metric();
    await post(pair.a.url, { documentId: PRODUCTS.id, variables: { first: 1 } }, partner);
    await post(pair.a.url, { documentId: PRODUCTS.id, variables: { first: 2 } }, partner);
    await post(pair.a.url, { query: textOf(CategoryIdsDocument) }, partner);
    const after = await metric();
    expect(after.allowed - before.allowed).toBe(2);
    expect(after.refused - before.refused).toBe(1);
  });
});

describe("trusted-documents mode for all non-staff traffic (TRUSTED_DOCUMENTS_ONLY)", () => {
  let app: App;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    const dir = tempDir();
    // No Redis: APQ falls back to the in-memory cache.
    app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, env: { TRUSTED_DOCUMENTS_ONLY: "true" } });
    dispose = async () => {
      await app.stop();
      await db.drop();
      dir.remove();
    };
  });
  afterAll(() => dispose?.());

  it("customers and anonymous callers may run only the app manifest's operations, by hash", async () => {
    const email = `trusted-${randomUUID()}@example.test`;
    const signedUp = await post<SignedUp>(app.url, {
      documentId: byName("SignUp").id,
      variables: { input: { email, name: "Trusted Customer", password: "correct horse battery" } },
    });
    expect(signedUp.errors).toBeUndefined();
    const customer = { email, token: signedUp.data!.signUp.accessToken };
    const auth = { authorization: `Bearer ${customer.token}` };
    expect(codeOf(await post(app.url, { query: textOf(ProductCountDocument) }))).toBe("PERSISTED_QUERY_NOT_ALLOWED");
    expect(codeOf(await post(app.url, { query: textOf(MeEmailDocument) }, auth))).toBe("PERSISTED_QUERY_NOT_ALLOWED");
    const categories = await post<Categories>(app.url, { documentId: CATEGORIES.id });
    expect(categories.errors).toBeUndefined();
    expect(categories.data!.categories.length).toBeGreaterThan(0);
    const me = await get<{ me: { email: string } }>(app.url, { extensions: apq(byName("Me").hash) }, auth);
    expect(me.data!.me.email).toBe(customer.email);

    const ws = socket(app.wsUrl, { authorization: `Bearer ${customer.token}` });
    try {
      const refused = subscribe(ws, CartVersionDocument);
      await expect(nextWithin(refused)).rejects.toMatchObject([{ extensions: { code: "PERSISTED_QUERY_NOT_ALLOWED" } }]);
    } finally {
      await ws.dispose();
    }
  });

  it("a staff member's socket is closed (4403) when they lose STAFF, ending operations only staff could start", async () => {
    const email = `demoted-${randomUUID()}@example.test`;
    const password = "correct horse battery";
    const signedUp = await post<SignedUp>(app.url, { documentId: byName("SignUp").id, variables: { input: { email, name: "Soon Staff", password } } });
    const userId = signedUp.data!.signUp.user.id;
    const admin = await post<LoggedIn>(app.url, { documentId: byName("LogIn").id, variables: DEMO.admin });
    const asAdmin = admin.data!.logIn.accessToken;
    expect((await request(app.url, SetUserRoleDocument, { userId, role: "STAFF" }, asAdmin)).data!.setUserRole.role).toBe("STAFF");
    const staff = await post<LoggedIn>(app.url, { documentId: byName("LogIn").id, variables: { email, password } });

    let closed: (code: number) => void = () => {};
    const closedWith = new Promise<number>((resolve) => (closed = resolve));
    const ws = createClient({
      url: app.wsUrl,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${staff.data!.logIn.accessToken}` },
      on: { closed: (event) => closed((event as { code: number }).code) },
      onNonLazyError: () => {},
    });
    try {
      // Arbitrary text: allowed only because this user is staff.
      const running = subscribe(ws, OrderCountDocument);
      expect((await nextWithin(running)).data?.orders.totalCount).toBeGreaterThanOrEqual(0);
      expect((await request(app.url, SetUserRoleDocument, { userId, role: "CUSTOMER" }, asAdmin)).data!.setUserRole.role).toBe("CUSTOMER");
      const code = await Promise.race([closedWith, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("socket not closed within 5 s")), 5_000))]);
      expect(code).toBe(4403);
    } finally {
      await ws.dispose();
    }
  });

  it("staff run any operation, and their APQ registrations work from the in-memory cache", async () => {
    // Staff log in through the app's own LogIn operation like everyone else.
    const loggedIn = await post<LoggedIn>(app.url, { documentId: byName("LogIn").id, variables: DEMO.staff });
    const staff = { authorization: `Bearer ${loggedIn.data!.logIn.accessToken}` };
    const query = `query Staff${randomUUID().replace(/-/g, "")} { orders(first: 1) { totalCount } }`;
    expect(codeOf(await post(app.url, { extensions: apq(sha256(query)) }, staff))).toBe("PERSISTED_QUERY_NOT_FOUND");
    const registered = await post<OrderCount>(app.url, { query, extensions: apq(sha256(query)) }, staff);
    expect(registered.data!.orders.totalCount).toBeGreaterThan(0);
    const again = await get(app.url, { extensions: apq(sha256(query)) }, staff);
    expect(again.data).toEqual(registered.data);
    // A bad token is still refused as such, not as an untrusted document.
    expect(codeOf(await post(app.url, { query }, { authorization: "Bearer nope" }))).toBe("UNAUTHENTICATED");
  });
});

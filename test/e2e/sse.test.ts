// GraphQL over Server-Sent Events at /graphql/stream (graphql-sse, distinct connections mode) on
// real servers: the same auth, limits, persisted queries and fan-out as /graphql and the
// WebSocket, `id:` lines that are the events' cursors, Last-Event-ID resuming across instances.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import type { FormattedExecutionResult } from "graphql";
import {
  AddToCartDocument,
  AdjustStockDocument,
  CartDocument,
  LogInSessionDocument,
  LogOutDocument,
  SseCartDocument,
  SseStockAfterDocument,
  SseStockDocument,
  type AddToCartMutation,
  type SseCartSubscription,
  type SseStockSubscription,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, codeOf, logIn, request, nextWithin, ok, signUp, textOf, someProducts, tempDir, uniquePrefix, useDatabase, wsClient, metricValue } from "../harness/index.ts";
import { asStream, openStream, sseClient, type OpenStream } from "../harness/sse.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const apq = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

// A partner whose manifest holds the app's StockChanged subscription and nothing else.
const APP_MANIFEST = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
const [STOCK_CHANGED_ID, STOCK_CHANGED_TEXT] = Object.entries(APP_MANIFEST).find(([, text]) => /subscription StockChanged\b/.test(text))!;
const PARTNER_KEY = `cwp_${randomBytes(24).toString("base64url")}`;
const partnerDir = tempDir("cartwheel-sse-partners-");
writeFileSync(join(partnerDir.path, "acme.json"), JSON.stringify({ [STOCK_CHANGED_ID]: STOCK_CHANGED_TEXT }));
writeFileSync(join(partnerDir.path, "partners.json"), JSON.stringify({ partners: [{ id: "acme", keySha256: sha256(PARTNER_KEY), manifest: "acme.json" }] }));
afterAll(() => partnerDir.remove());

const db = useDatabase();
// Two instances sharing one Redis prefix (one deployment), partners configured on both.
let a: App;
let b: App;
let staff: string;
beforeAll(async () => {
  const options = { redisPrefix: uniquePrefix(), env: { PARTNERS_FILE: join(partnerDir.path, "partners.json") } };
  a = await db.start(options);
  b = await db.start(options);
  staff = await logIn(a.url, DEMO.staff);
});

const streamUrl = (app: App) => `${app.url}/stream`;
// Printed from test/operations: raw streams send the text, clients the same document typed.
const STOCK = textOf(SseStockDocument);
const CART = textOf(SseCartDocument);

const adjust = (productId: string, delta = 1, app = a): Promise<number> => fixtures.adjustStock(app.url, staff, productId, delta);

async function addToCart(token: string, productId: string): Promise<number> {
  return ok(await fixtures.addToCart(a.url, token, productId, 1)).addToCart.version;
}

const metric = (app: App, name: string) => metricValue(app.url, name);

/** The stream's next `next` event for a stockChanged subscription: its stock, and that its id is its cursor. */
async function nextStock(stream: OpenStream, ms = 5_000): Promise<{ stock: number; id: string }> {
  const event = await stream.next<SseStockSubscription>(ms);
  expect(event.event).toBe("next");
  expect(event.data!.errors).toBeUndefined();
  const { stock, cursor } = event.data!.data!.stockChanged;
  expect(event.id).toBe(event.data!.extensions!.cursor);
  expect(event.id).toBe(cursor);
  return { stock, id: event.id! };
}

/** The first event is a `next` with errors, then `complete`, then the response ends: the first error's extensions. */
async function refusedInStream(stream: OpenStream) {
  const event = await stream.next();
  expect(event.event).toBe("next");
  expect(event.data!.data).toBeUndefined();
  expect((await stream.next()).event).toBe("complete");
  expect(await stream.ended()).toEqual({ completed: true });
  return event.data!.errors![0]!;
}

describe("subscriptions over SSE", () => {
  it("deliver the events of mutations made over HTTP, each with an id: line that is its cursor (POST, and GET as EventSource sends it)", async () => {
    const [product] = await someProducts(a.url, 1);
    for (const method of ["POST", "GET"] as const) {
      const stream = asStream(await openStream(streamUrl(a), { query: STOCK, variables: { ids: [product!.id] } }, { method }));
      try {
        expect(stream.status).toBe(200);
        expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
        expect(stream.headers.get("cache-control")).toBe("no-cache");
        const ids = new Set<string>();
        for (let i = 0; i < 3; i++) {
          const stock = await adjust(product!.id);
          const event = await nextStock(stream);
          expect(event.stock).toBe(stock);
          ids.add(event.id);
        }
        expect(ids.size).toBe(3);
      } finally {
        stream.close();
      }
    }
  });

  it("work with graphql-sse's own client", async () => {
    const [product] = await someProducts(a.url, 1);
    const client = sseClient(streamUrl(a));
    let connected!: () => void;
    const live = new Promise<void>((resolve) => (connected = resolve));
    const events = client.iterate<SseStockSubscription, { cursor?: string }>({ query: STOCK, variables: { ids: [product!.id] } }, { connected: () => connected() });
    try {
      // Answered once the subscription is set up on the server.
      const first = events.next();
      await Promise.race([live, new Promise((_, reject) => setTimeout(() => reject(new Error("not connected within 5 s")), 5_000))]);
      const stock = await adjust(product!.id);
      const result = (await Promise.race([first, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no event")), 5_000))])).value;
      expect(result.data?.stockChanged.stock).toBe(stock);
      expect(result.extensions?.cursor).toBe(result.data?.stockChanged.cursor);
    } finally {
      await events.return?.();
      client.dispose();
    }
  });
});

describe("auth", () => {
  it("a bearer token works as on /graphql; a bad one is 401 UNAUTHENTICATED before any stream", async () => {
    const [product] = await someProducts(a.url, 1);
    const user = await signUp(a.url);
    const stream = asStream(await openStream(streamUrl(a), { query: CART }, { token: user.token }));
    try {
      const version = await addToCart(user.token, product!.id);
      const event = await stream.next<SseCartSubscription>();
      expect(event.data!.data!.cartUpdated.version).toBe(version);
      expect(event.id).toBe(event.data!.data!.cartUpdated.cursor);
    } finally {
      stream.close();
    }
    for (const authorization of ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz"]) {
      const refused = await openStream(streamUrl(a), { query: STOCK, variables: { ids: [product!.id] } }, { headers: { authorization } });
      expect("json" in refused && refused.status, authorization).toBe(401);
      expect("json" in refused && refused.json?.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    }
  });

  it("cartUpdated without a token is refused in the stream as over the WebSocket", async () => {
    const client = sseClient(streamUrl(a));
    try {
      const result = await nextWithin(client.iterate<SseCartSubscription>({ query: CART }));
      expect(["UNAUTHENTICATED", "FORBIDDEN"]).toContain(codeOf(result));
      expect(result.data).toBeUndefined();
    } finally {
      client.dispose();
    }
  });

  it("mutations run over POST only, never GET", async () => {
    const [product] = await someProducts(a.url, 1);
    const user = await signUp(a.url);
    const mutation = { query: textOf(AddToCartDocument), variables: { productId: product!.id, quantity: 1 } };
    const viaGet = await openStream(streamUrl(a), mutation, { method: "GET", token: user.token });
    expect(viaGet.status).toBe(405);
    expect("json" in viaGet && viaGet.json?.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    const cart = await request(a.url, CartDocument, {}, user.token);
    expect(cart.data!.cart.version).toBe(0);
    const viaPost = asStream(await openStream(streamUrl(a), mutation, { token: user.token }));
    expect((await viaPost.next<AddToCartMutation>()).data!.data!.addToCart.version).toBe(1);
    expect(await viaPost.ended()).toEqual({ completed: true });
  });
});

describe("limits and persisted queries, as on /graphql", () => {
  it("a too-deep or too-costly subscription is QUERY_TOO_COMPLEX", async () => {
    const [product] = await someProducts(a.url, 1);
    const variables = { ids: [product!.id] };
    const deep = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { product { category { products { edges { node { category { products { edges { node { category { name } } } } } } } } } } } }`;
    const deepError = await refusedInStream(asStream(await openStream(streamUrl(a), { query: deep, variables })));
    expect(deepError.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "depth", max: 10 });
    const costly = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { product { category { products(first: 100) { edges { node { category { products(first: 100) { totalCount } } } } } } } } }`;
    const costError = await refusedInStream(asStream(await openStream(streamUrl(a), { query: costly, variables })));
    expect(costError.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "cost", max: 10_000 });
    expect(costError.extensions.actual).toBeGreaterThan(10_000);
  });

  it("APQ: hash-only is PERSISTED_QUERY_NOT_FOUND until registered, then runs by hash on another instance", async () => {
    const [product] = await someProducts(a.url, 1);
    const query = `subscription Apq${randomUUID().replace(/-/g, "")}($ids: [ID!]!) { stockChanged(productIds: $ids) { stock cursor } }`;
    const hash = sha256(query);
    const variables = { ids: [product!.id] };
    const miss = await refusedInStream(asStream(await openStream(streamUrl(b), { extensions: apq(hash), variables })));
    expect(miss.extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
    const registering = asStream(await openStream(streamUrl(a), { query, extensions: apq(hash), variables }));
    let byHash: OpenStream | undefined;
    try {
      // Stored once the subscription has started (asynchronously): bounded.
      for (let attempt = 0; !byHash; attempt++) {
        if (attempt >= 50) throw new Error("the text was never registered");
        const answer = asStream(await openStream(streamUrl(b), { extensions: apq(hash), variables }, { method: "GET" }));
        const early = await answer.next(300).catch(() => undefined);
        if (early === undefined) byHash = answer;
        else await answer.ended();
      }
      const stock = await adjust(product!.id);
      expect((await nextStock(byHash)).stock).toBe(stock);
      expect((await nextStock(registering)).stock).toBe(stock);
    } finally {
      registering.close();
      byHash?.close();
    }
  });

  it("with a partner key only the partner's manifest runs: by documentId it streams, other text is PERSISTED_QUERY_NOT_ALLOWED, an unknown key 401", async () => {
    const [product] = await someProducts(a.url, 1);
    const partner = { "x-partner-key": PARTNER_KEY };
    const variables = { productIds: [product!.id] };
    const other = await refusedInStream(asStream(await openStream(streamUrl(a), { query: STOCK, variables: { ids: [product!.id] } }, { headers: partner })));
    expect(other.extensions.code).toBe("PERSISTED_QUERY_NOT_ALLOWED");
    const unknown = await openStream(streamUrl(a), { documentId: STOCK_CHANGED_ID, variables }, { headers: { "x-partner-key": "cwp_not-a-key" } });
    expect(unknown.status).toBe(401);
    expect("json" in unknown && unknown.json?.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    const manifest = asStream(await openStream(streamUrl(a), { documentId: STOCK_CHANGED_ID, variables }, { headers: partner }));
    try {
      const stock = await adjust(product!.id);
      const event = await manifest.next<{ stockChanged: { product: { id: string; stock: number } } }>();
      expect(event.data!.data!.stockChanged.product).toEqual({ id: product!.id, stock });
      expect(event.id).toBe(event.data!.extensions!.cursor);
    } finally {
      manifest.close();
    }
  });
});

describe("Last-Event-ID", () => {
  it("resumes like after: events 1–3, the stream closed, 4–6 made, a reconnect to the other instance gets exactly 4, 5, 6, then live ones", async () => {
    const [, product] = await someProducts(a.url, 2);
    const request = { query: STOCK, variables: { ids: [product!.id] } };
    const first = asStream(await openStream(streamUrl(a), request));
    const seen: { stock: number; id: string }[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const stock = await adjust(product!.id);
        seen.push(await nextStock(first));
        expect(seen.at(-1)!.stock).toBe(stock);
      }
    } finally {
      first.close();
    }
    const missed = [await adjust(product!.id), await adjust(product!.id), await adjust(product!.id)];
    const resumed = asStream(await openStream(streamUrl(b), request, { headers: { "last-event-id": seen[2]!.id } }));
    // A second subscriber resuming from the same event, later: its replay is its own (it does not
    // join the first one's group, which is past it).
    let twin: OpenStream | undefined;
    try {
      const replayed = [await nextStock(resumed), await nextStock(resumed), await nextStock(resumed)];
      expect(replayed.map((e) => e.stock)).toEqual(missed);
      twin = asStream(await openStream(streamUrl(b), request, { headers: { "last-event-id": seen[2]!.id } }));
      expect([await nextStock(twin), await nextStock(twin), await nextStock(twin)]).toEqual(replayed);
      const live = await adjust(product!.id);
      expect((await nextStock(resumed)).stock).toBe(live);
      expect((await nextStock(twin)).stock).toBe(live);
      expect(new Set([...seen, ...replayed].map((e) => e.id)).size).toBe(6);
    } finally {
      resumed.close();
      twin?.close();
    }
    // An EventSource reconnecting to a URL that started from `after` sends the later Last-Event-ID: that one wins.
    const reconnect = asStream(
      await openStream(streamUrl(a), { query: textOf(SseStockAfterDocument), variables: { ids: [product!.id], after: seen[0]!.id } }, { method: "GET", headers: { "last-event-id": seen[2]!.id } }),
    );
    try {
      expect((await nextStock(reconnect)).stock).toBe(missed[0]);
    } finally {
      reconnect.close();
    }
  });

  it("is refused when it is longer than a cursor (400), and as after is when it is not one of ours", async () => {
    const [product] = await someProducts(a.url, 1);
    const request = { query: STOCK, variables: { ids: [product!.id] } };
    const long = await openStream(streamUrl(a), request, { headers: { "last-event-id": "x".repeat(65) } });
    expect(long.status).toBe(400);
    expect("json" in long && long.json?.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    const foreign = await refusedInStream(asStream(await openStream(streamUrl(a), request, { headers: { "last-event-id": "not-a-cursor" } })));
    expect(foreign.extensions.code).toBe("BAD_USER_INPUT");
  });
});

describe("fan-out", () => {
  it("identical SSE subscriptions share one execution per event, and so does a WebSocket one joining them", async () => {
    const [, , product] = await someProducts(a.url, 3);
    const request = { query: STOCK, variables: { ids: [product!.id] } };
    const executions = () => metric(a, "cartwheel_fanout_executions_total");
    /** One stock change that every stream (and socket) receives; the executions it cost. */
    const oneEvent = async (streams: OpenStream[], sockets: AsyncIterator<FormattedExecutionResult<SseStockSubscription, unknown>>[] = []) => {
      const before = await executions();
      const stock = await adjust(product!.id);
      await Promise.all(streams.map(async (stream) => expect((await nextStock(stream)).stock).toBe(stock)));
      for (const socket of sockets) expect((await nextWithin(socket)).data?.stockChanged.stock).toBe(stock);
      return (await executions()) - before;
    };
    // Live once their headers are in.
    const streams = await Promise.all(Array.from({ length: 20 }, async () => asStream(await openStream(streamUrl(a), request))));
    const ws = wsClient(a.wsUrl);
    const wsEvents = ws.iterate<SseStockSubscription>(request);
    try {
      expect(await oneEvent(streams)).toBe(1);
      // The socket is live once it has had an event (the streams get every one meanwhile).
      const first = wsEvents.next();
      let stock = await adjust(product!.id);
      for (let round = 0; !(await Promise.race([first.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 300))])); round++) {
        if (round >= 20) throw new Error("the WebSocket subscription never became live");
        stock = await adjust(product!.id);
      }
      for (let got = (await first).value; got?.data?.stockChanged.stock !== stock; got = await nextWithin(wsEvents));
      for (const stream of streams) while ((await nextStock(stream)).stock !== stock);
      expect(await oneEvent(streams, [wsEvents])).toBe(1);
    } finally {
      for (const stream of streams) stream.close();
      await wsEvents.return?.();
      await ws.dispose();
    }
  });
});

describe("resuming subscriptions", () => {
  it("a Last-Event-ID resume shares the live group: its missed events, then one execution per event with the live subscribers", async () => {
    const [, , , , product] = await someProducts(a.url, 5);
    const request = { query: STOCK, variables: { ids: [product!.id] } };
    const live = asStream(await openStream(streamUrl(a), request));
    let resumed: OpenStream | undefined;
    try {
      await adjust(product!.id);
      const from = (await nextStock(live)).id;
      const missed = [await adjust(product!.id), await adjust(product!.id)];
      expect([(await nextStock(live)).stock, (await nextStock(live)).stock]).toEqual(missed);
      resumed = asStream(await openStream(streamUrl(a), request, { headers: { "last-event-id": from } }));
      expect([(await nextStock(resumed)).stock, (await nextStock(resumed)).stock]).toEqual(missed);
      const before = await metric(a, "cartwheel_fanout_executions_total");
      const stock = await adjust(product!.id);
      expect((await nextStock(live)).stock).toBe(stock);
      expect((await nextStock(resumed)).stock).toBe(stock);
      expect((await metric(a, "cartwheel_fanout_executions_total")) - before).toBe(1);
    } finally {
      live.close();
      resumed?.close();
    }
  });

  it("a cursor written into the document runs on its own: an identical subscription made later is replayed what it missed too", async () => {
    const [, , , , , product] = await someProducts(a.url, 6);
    const start = asStream(await openStream(streamUrl(a), { query: STOCK, variables: { ids: [product!.id] } }));
    let from: string;
    try {
      await adjust(product!.id);
      from = (await nextStock(start)).id;
    } finally {
      start.close();
    }
    const missed = [await adjust(product!.id), await adjust(product!.id)];
    // The cursor written into the text (no variables) is the case: it stays text.
    const inline = { query: `subscription { stockChanged(productIds: [${JSON.stringify(product!.id)}], after: ${JSON.stringify(from)}) { stock cursor } }` };
    const early = asStream(await openStream(streamUrl(a), inline, { method: "GET" }));
    let late: OpenStream | undefined;
    try {
      expect([(await nextStock(early)).stock, (await nextStock(early)).stock]).toEqual(missed);
      // A group shared with the first would already be past the replay.
      late = asStream(await openStream(streamUrl(a), inline, { method: "GET" }));
      expect([(await nextStock(late)).stock, (await nextStock(late)).stock]).toEqual(missed);
    } finally {
      early.close();
      late?.close();
    }
  });
});

describe("streams that end", () => {
  it("a logged-out session's stream ends with UNAUTHENTICATED and complete, from the other instance; another user's stays", async () => {
    const [product] = await someProducts(a.url, 1);
    const login = async (email: string) =>
      (await request(a.url, LogInSessionDocument, { email, password: "correct horse battery" })).data!.logIn;
    const user = await signUp(a.url);
    const bystander = await signUp(a.url);
    const session = await login(user.email);
    const stream = asStream(await openStream(streamUrl(a), { query: CART }, { token: session.accessToken }));
    const other = asStream(await openStream(streamUrl(a), { query: CART }, { token: bystander.token }));
    try {
      expect((await request(b.url, LogOutDocument, { refreshToken: session.refreshToken })).data!.logOut).toBe(true);
      const final = await stream.next(3_000);
      expect(final.data!.errors![0]!.extensions.code).toBe("UNAUTHENTICATED");
      expect((await stream.next()).event).toBe("complete");
      expect(await stream.ended()).toEqual({ completed: true });
      const version = await addToCart(bystander.token, product!.id);
      expect((await other.next<SseCartSubscription>()).data!.data!.cartUpdated.version).toBe(version);
    } finally {
      stream.close();
      other.close();
    }
  });

  it("a stream whose access token expires ends with UNAUTHENTICATED and complete", async () => {
    const short = await db.start({ env: { ACCESS_TOKEN_TTL: "2s" } });
    const user = await signUp(short.url);
    const started = Date.now();
    const stream = asStream(await openStream(streamUrl(short), { query: CART }, { token: user.token }));
    try {
      const final = await stream.next(6_000);
      expect(final.data!.errors![0]!.extensions.code).toBe("UNAUTHENTICATED");
      expect(final.data!.errors![0]!.message).toMatch(/expired/);
      expect(await stream.ended()).toEqual({ completed: true });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    } finally {
      stream.close();
    }
  });

  it("server shutdown ends open streams without complete (clients reconnect with Last-Event-ID), and the shutdown finishes", async () => {
    const doomed = await db.start();
    const [product] = await someProducts(doomed.url, 1);
    const stream = asStream(await openStream(streamUrl(doomed), { query: STOCK, variables: { ids: [product!.id] } }));
    const stopped = doomed.stop();
    expect(await stream.ended(5_000)).toEqual({ completed: false });
    await Promise.race([stopped, new Promise((_, reject) => setTimeout(() => reject(new Error("shutdown not done within 5 s")), 5_000))]);
  });

  it("a stream that does not read is cut within a bounded time, while another subscriber receives every event", async () => {
    const slowServer = await db.start({ env: { WS_MAX_BUFFERED_BYTES: "16384", WS_BACKLOG_TIMEOUT: "2s" } });
    const [, , , product] = await someProducts(slowServer.url, 4);
    // ~15 copies of the category's products per event: the paused connection's buffers fill fast.
    const copies = Array.from({ length: 15 }, (_, i) => `c${i}: products(first: 10) { edges { node { name slug description } } }`).join(" ");
    const query = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { stock cursor product { category { ${copies} } } } }`;
    const body = JSON.stringify({ query, variables: { ids: [product!.id] } });
    let cut = false;
    const slow = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${streamUrl(slowServer)}`, { method: "POST", headers: { accept: "text/event-stream", "content-type": "application/json" } }, (res) => {
        res.pause();
        res.socket.once("close", () => (cut = true));
        resolve(res);
      });
      req.on("error", reject);
      req.end(body);
    });
    const fast = asStream(await openStream(streamUrl(slowServer), { query, variables: { ids: [product!.id] } }));
    const token = await logIn(slowServer.url, DEMO.staff);
    try {
      const before = await metric(slowServer, "cartwheel_sse_streams_ended_for_backlog_total");
      const sent: number[] = [];
      const deadline = Date.now() + 20_000;
      while ((await metric(slowServer, "cartwheel_sse_streams_ended_for_backlog_total")) === before) {
        if (Date.now() > deadline) throw new Error("the paused stream was not cut within 20 s");
        const res = await request(slowServer.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, token);
        sent.push(res.data!.adjustStock.stock);
      }
      const got: number[] = [];
      while (got.at(-1) !== sent.at(-1)) got.push((await fast.next<SseStockSubscription>(10_000)).data!.data!.stockChanged.stock);
      expect(got).toEqual(sent);
      slow.resume();
      await expect.poll(() => cut, { timeout: 5_000 }).toBe(true);
    } finally {
      fast.close();
      slow.destroy();
    }
  });
});

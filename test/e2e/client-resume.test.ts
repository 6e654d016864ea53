// The typed client's subscriptions resume by themselves, over the WebSocket and over SSE: against
// two real server instances sharing PostgreSQL and Redis, with the client's connection cut (and
// frozen) by a TCP proxy in front of one of them. Changes are made on the other instance while
// the client is away.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCartwheelClient, type CartwheelClient, type ClientOptions } from "../../client/index.ts";
import { CartUpdatedDocument, StockChangedDocument } from "../../client/generated/graphql.ts";
import type { App } from "../../src/app.ts";
import { decodeCursor } from "../../src/events/outbox.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { AdjustStockDocument, LogInSessionDocument, LogOutDocument, LogOutEverywhereDocument } from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, logIn, nextWithin, request, signUp, someProducts, subscriberCount, tempDir, useDatabase, useInstancePair, waitForPruned, waitForSubscribers } from "../harness/index.ts";
import { startProxy, type TcpProxy } from "../harness/proxy.ts";

const EVENT_MS = 10_000;
const leftovers: { dispose(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(leftovers.splice(0).map((l) => l.dispose()));
});

type Transport = NonNullable<ClientOptions["transport"]>;
const TRANSPORTS: Transport[] = ["ws", "sse"];

/** A client whose reconnection is quick (the defaults wait 0.5 s to 30 s between attempts). */
function client(transport: Transport, url: string, options: Partial<ClientOptions> = {}): CartwheelClient {
  const c = createCartwheelClient({ url, transport, reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, ...options });
  leftovers.push(c);
  return c;
}

async function proxyTo(app: App): Promise<{ proxy: TcpProxy; url: string }> {
  const proxy = await startProxy(app.port);
  leftovers.push({ dispose: () => proxy.close() });
  return { proxy, url: `http://127.0.0.1:${proxy.port}/graphql` };
}

const addToCart = async (app: App, token: string, productId: string): Promise<number> => {
  const res = await fixtures.addToCart(app.url, token, productId, 1);
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.addToCart.version;
};
const position = (cursor: string | null | undefined) => decodeCursor(cursor!)!.position;

/** Polls a condition on the servers every 10 ms, bounded. */
async function until(condition: () => boolean, what: string, ms = EVENT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const pair = useInstancePair();
const cartChannel = (userId: string) => `${pair.prefix}CART_UPDATED:${keyOf(userId, "User")}`;

describe.each(TRANSPORTS)("the typed client over %s resumes after a dropped connection", (transport) => {
  it("cut before the first event: the change made meanwhile still arrives (the client started after eventCursor)", async () => {
    const user = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    const { proxy, url } = await proxyTo(pair.a);
    const events = client(transport, url, { token: () => user.token }).subscribe(CartUpdatedDocument);
    await waitForSubscribers(cartChannel(user.userId));
    proxy.cut();
    await proxy.refusedAtLeast(1);
    const missed = await addToCart(pair.b, user.token, product!.id);
    proxy.restore();
    const first = (await nextWithin(events, EVENT_MS)).cartUpdated;
    expect(first.version).toBe(missed);
    expect(events.cursor).toBe(first.cursor);
  });

  it("cut while changes are made on the other instance: after reconnecting it yields exactly the missed events in version order, then live ones", async () => {
    const user = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    const { proxy, url } = await proxyTo(pair.a);
    const events = client(transport, url, { token: () => user.token }).subscribe(CartUpdatedDocument);
    expect(events.cursor).toBeUndefined();
    await waitForSubscribers(cartChannel(user.userId));
    const v1 = await addToCart(pair.b, user.token, product!.id);
    const first = (await nextWithin(events, EVENT_MS)).cartUpdated;
    expect(first.version).toBe(v1);
    expect(events.cursor).toBe(first.cursor);

    proxy.cut();
    // The client has noticed and is retrying: what follows happens while it is away.
    await proxy.refusedAtLeast(1);
    const missed: number[] = [];
    for (let i = 0; i < 3; i++) missed.push(await addToCart(pair.b, user.token, product!.id));
    proxy.restore();

    const replayed = [];
    for (let i = 0; i < 3; i++) replayed.push((await nextWithin(events, EVENT_MS)).cartUpdated);
    expect(replayed.map((e) => e.version)).toEqual(missed);
    expect(missed).toEqual([v1 + 1, v1 + 2, v1 + 3]);
    expect(replayed.map((e) => position(e.cursor))).toEqual([...replayed.map((e) => position(e.cursor))].sort((x, y) => x - y));
    expect(events.cursor).toBe(replayed[2]!.cursor);
    // Then live, from either instance; the next event is each next change (nothing repeated).
    for (const app of [pair.a, pair.b]) {
      const live = await addToCart(app, user.token, product!.id);
      expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(live);
    }
  });

  it("cut twice in a row, and a public subscription alongside: both resume each time", async () => {
    const user = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    const staff = await logIn(pair.a.url, DEMO.staff);
    const adjust = async () => (await request(pair.b.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff)).data!.adjustStock.stock;
    const { proxy, url } = await proxyTo(pair.a);
    const c = client(transport, url, { token: () => user.token });
    const cart = c.subscribe(CartUpdatedDocument);
    const stock = c.subscribe(StockChangedDocument, { productIds: [product!.id] });
    await waitForSubscribers(cartChannel(user.userId));
    await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${keyOf(product!.id, "Product")}`);
    let version = await addToCart(pair.b, user.token, product!.id);
    let level = await adjust();
    expect((await nextWithin(cart, EVENT_MS)).cartUpdated.version).toBe(version);
    expect((await nextWithin(stock, EVENT_MS)).stockChanged.stock).toBe(level);
    for (let round = 0; round < 2; round++) {
      proxy.cut();
      await proxy.refusedAtLeast(1);
      version = await addToCart(pair.b, user.token, product!.id);
      level = await adjust();
      proxy.restore();
      expect((await nextWithin(cart, EVENT_MS)).cartUpdated.version).toBe(version);
      expect((await nextWithin(stock, EVENT_MS)).stockChanged.stock).toBe(level);
    }
    const live = await addToCart(pair.a, user.token, product!.id);
    expect((await nextWithin(cart, EVENT_MS)).cartUpdated.version).toBe(live);
  });

  // Over the WebSocket a ping's pong does not come; over SSE the server's 12 s ping does not come
  // (so that one takes 12 s).
  it("a frozen connection (nothing arrives, nothing closes) is noticed, dropped and resumed", { timeout: 45_000 }, async () => {
    const user = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    const { proxy, url } = await proxyTo(pair.a);
    const events = client(transport, url, { token: () => user.token, keepAliveMs: 100, timeoutMs: 300 }).subscribe(CartUpdatedDocument);
    await waitForSubscribers(cartChannel(user.userId));
    const v1 = await addToCart(pair.b, user.token, product!.id);
    expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(v1);

    const opened = proxy.opened;
    proxy.freeze();
    const missed = await addToCart(pair.b, user.token, product!.id);
    // The pong never comes: the client drops the socket, and the server sees it go.
    await until(() => subscriberCount(cartChannel(user.userId)) === 0, "the server saw the frozen connection closed", 20_000);
    // A connection opened into the frozen network hangs in its upgrade: the client gives up on it
    // and tries another one.
    await until(() => proxy.opened >= opened + 2, "a second connection attempt while frozen");
    proxy.restore();
    expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(missed);
    const live = await addToCart(pair.b, user.token, product!.id);
    expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(live);
  });

  it("starts after a given cursor (an app restarting with the cursor it persisted): the events since come first, then live ones", async () => {
    const user = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    const before = client(transport, pair.a.url, { token: () => user.token });
    const first = before.subscribe(CartUpdatedDocument);
    await waitForSubscribers(cartChannel(user.userId));
    await addToCart(pair.a, user.token, product!.id);
    await nextWithin(first, EVENT_MS);
    const saved = first.cursor!;
    expect(saved).toBeTypeOf("string");
    await before.dispose();
    const missed = [await addToCart(pair.b, user.token, product!.id), await addToCart(pair.b, user.token, product!.id)];

    const after = client(transport, pair.b.url, { token: () => user.token });
    const resumed = after.subscribe(CartUpdatedDocument, {}, { after: saved });
    expect(resumed.cursor).toBe(saved);
    const replayed = [(await nextWithin(resumed, EVENT_MS)).cartUpdated, (await nextWithin(resumed, EVENT_MS)).cartUpdated];
    expect(replayed.map((e) => e.version)).toEqual(missed);
    const live = await addToCart(pair.a, user.token, product!.id);
    expect((await nextWithin(resumed, EVENT_MS)).cartUpdated.version).toBe(live);
    // A cursor in the variables works too, also for a second, identical subscription (the server
    // groups identical subscriptions: this one joins the group of `resumed`, which is live by now).
    const again = after.subscribe(CartUpdatedDocument, { after: saved });
    expect(again.cursor).toBe(saved);
    for (const version of [...missed, live]) expect((await nextWithin(again, EVENT_MS)).cartUpdated.version).toBe(version);
    const both = await addToCart(pair.b, user.token, product!.id);
    expect((await nextWithin(again, EVENT_MS)).cartUpdated.version).toBe(both);
    expect((await nextWithin(resumed, EVENT_MS)).cartUpdated.version).toBe(both);
  });

  it("credentials are not retried: a bad token, and a session logged out everywhere, end the iterator with UNAUTHENTICATED", async () => {
    let reads = 0;
    const bad = client(transport, pair.a.url, { token: () => (reads++, "not-a-token") }).subscribe(CartUpdatedDocument);
    const refused = await nextWithin(bad, EVENT_MS).catch((error: unknown) => error);
    // The WebSocket is closed with 4403; the stream is refused with 401.
    expect(refused).toMatchObject({ code: "UNAUTHENTICATED", ...(transport === "ws" ? { errors: [{ extensions: { closeCode: 4403 } }] } : { status: 401 }) });
    // One connection attempt only: the token is read for the start query (eventCursor), for the
    // connection, and once more to see it has not changed.
    expect(reads).toBeLessThanOrEqual(3);
    expect(await bad.next()).toEqual({ done: true, value: undefined });

    const user = await signUp(pair.a.url);
    reads = 0;
    const events = client(transport, pair.a.url, { token: () => (reads++, user.token) }).subscribe(CartUpdatedDocument);
    await waitForSubscribers(cartChannel(user.userId));
    expect((await request(pair.b.url, LogOutEverywhereDocument, {}, user.token)).data?.logOutEverywhere).toBe(true);
    const closed = await nextWithin(events, EVENT_MS).catch((error: unknown) => error);
    expect(closed).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(JSON.stringify(closed)).toMatch(/revoked/);
    expect(reads).toBeLessThanOrEqual(3);
  });

  it("credentials that stop being good when the app already holds new ones: it reconnects with those and resumes", async () => {
    const user = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    const session = async () => (await request(pair.a.url, LogInSessionDocument, { email: user.email, password: "correct horse battery" })).data!.logIn;
    const [first, second] = [await session(), await session()];
    let token = first.accessToken;
    const events = client(transport, pair.a.url, { token: () => token }).subscribe(CartUpdatedDocument);
    await waitForSubscribers(cartChannel(user.userId));
    const v1 = await addToCart(pair.b, user.token, product!.id);
    expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(v1);
    // The app has moved to another token (a refresh), then the old one's session ends: the
    // WebSocket is closed with 4403, the stream ends with UNAUTHENTICATED.
    token = second.accessToken;
    expect((await request(pair.b.url, LogOutDocument, { refreshToken: first.refreshToken })).errors).toBeUndefined();
    const missed = await addToCart(pair.b, user.token, product!.id);
    expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(missed);
    const live = await addToCart(pair.b, user.token, product!.id);
    expect((await nextWithin(events, EVENT_MS)).cartUpdated.version).toBe(live);
  });

  it("dispose() while waiting to reconnect ends the iterators and resolves at once, without waiting out the backoff", async () => {
    const user = await signUp(pair.a.url);
    const { proxy, url } = await proxyTo(pair.a);
    const c = createCartwheelClient({ url, transport, token: () => user.token, reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    const events = c.subscribe(CartUpdatedDocument);
    await waitForSubscribers(cartChannel(user.userId));
    const pending = events.next();
    proxy.cut();
    // The server saw the socket go: the client is in its first (30–60 s) backoff.
    await until(() => subscriberCount(cartChannel(user.userId)) === 0, "the server saw the socket closed");
    const started = Date.now();
    await c.dispose();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(proxy.refused).toBe(0);
  });

  it("refuses a subscription document that cannot resume", () => {
    const c = client(transport, pair.a.url);
    const meta = (CartUpdatedDocument as unknown as { __meta__: unknown }).__meta__;
    const withoutAfter = { ...CartUpdatedDocument, __meta__: meta, definitions: CartUpdatedDocument.definitions.map((d) => ({ ...d, variableDefinitions: [] })) };
    expect(() => c.subscribe(withoutAfter as typeof CartUpdatedDocument)).toThrow(/declare `\$after: String`/);
  });
});

describe("the typed client and CURSOR_EXPIRED", () => {
  const db = useDatabase();
  let app: App;
  let staff: string;
  beforeAll(async () => {
    app = await db.start({ env: { OUTBOX_RETENTION: "1s" } });
    staff = await logIn(app.url, DEMO.staff);
  });
  /** Waits (bounded) for the relay to prune past `cursor`: events older than 1 s go. */
  const prunedPast = (cursor: string) => waitForPruned(db.url, position(cursor));

  it.each(TRANSPORTS)("over %s: a start cursor older than the retention, and a reconnection after it, end the iterator with CartwheelError CURSOR_EXPIRED", async (transport) => {
    const [product] = await someProducts(app.url, 1);
    const bump = () => request(app.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff);
    const { proxy, url } = await proxyTo(app);
    const events = client(transport, url).subscribe(StockChangedDocument, { productIds: [product!.id] });
    await waitForSubscribers(`STOCK_CHANGED:${keyOf(product!.id, "Product")}`);
    await bump();
    const old = (await nextWithin(events, EVENT_MS)).stockChanged.cursor;
    proxy.cut();
    await proxy.refusedAtLeast(1);
    await bump();
    await bump();
    await prunedPast(old);
    proxy.restore();
    // Back, it resumes after `old`, which is gone.
    const expired = await nextWithin(events, EVENT_MS).catch((error: unknown) => error);
    expect(expired).toMatchObject({ code: "CURSOR_EXPIRED" });
    expect(await events.next()).toEqual({ done: true, value: undefined });

    const started = client(transport, app.url).subscribe(StockChangedDocument, { productIds: [product!.id] }, { after: old });
    expect(await nextWithin(started, EVENT_MS).catch((error: unknown) => error)).toMatchObject({ code: "CURSOR_EXPIRED" });
  });
});

describe("a partner's typed client (trusted documents: hash only)", () => {
  // The partner's manifest holds StockChanged as codegen wrote it: the client sends its hash only.
  const manifest = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
  const stockChanged = Object.entries(manifest).find(([, text]) => text.startsWith("subscription StockChanged"))!;
  const key = `cwp_${randomBytes(24).toString("base64url")}`;
  const dir = tempDir("cartwheel-partners-");
  writeFileSync(join(dir.path, "acme.json"), JSON.stringify(Object.fromEntries([stockChanged])));
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
  writeFileSync(join(dir.path, "partners.json"), JSON.stringify({ partners: [{ id: "acme", keySha256: sha256(key), manifest: "acme.json" }] }));
  afterAll(() => dir.remove());
  const db = useDatabase();

  it.each(TRANSPORTS)("over %s: resumes after a cut with the hash and the new cursor", async (transport) => {
    const app = await db.start({ env: { PARTNERS_FILE: join(dir.path, "partners.json") } });
    const staff = await logIn(app.url, DEMO.staff);
    const [product] = await someProducts(app.url, 1);
    const adjust = async () => (await request(app.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff)).data!.adjustStock.stock;
    const { proxy, url } = await proxyTo(app);
    const events = client(transport, url, { partnerKey: key }).subscribe(StockChangedDocument, { productIds: [product!.id] });
    await waitForSubscribers(`STOCK_CHANGED:${keyOf(product!.id, "Product")}`);
    const first = await adjust();
    const seen = (await nextWithin(events, EVENT_MS)).stockChanged;
    expect(seen.stock).toBe(first);
    proxy.cut();
    await proxy.refusedAtLeast(1);
    const missed = [await adjust(), await adjust()];
    proxy.restore();
    // Each replayed event's own stock and version; its `product` is read as it is now.
    const replayed = [(await nextWithin(events, EVENT_MS)).stockChanged, (await nextWithin(events, EVENT_MS)).stockChanged];
    expect(replayed.map((e) => e.stock)).toEqual(missed);
    expect(replayed.map((e) => e.version)).toEqual([seen.version + 1, seen.version + 2]);
    const live = await adjust();
    expect((await nextWithin(events, EVENT_MS)).stockChanged.stock).toBe(live);
  });
});

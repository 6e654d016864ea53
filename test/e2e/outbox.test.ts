// Nothing lost: the transactional outbox, the relay and resumable subscriptions, against real
// PostgreSQL and Redis. Redis is cut through a TCP proxy (never the shared server); a crash between
// commit and publish is a real SIGKILL of a real server process.
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { transactional } from "../../src/db/transaction.ts";
import { decodeCursor } from "../../src/events/outbox.ts";
import { event } from "../../src/events/topics.ts";
import { keyOf } from "../../src/lib/ids.ts";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { FormattedExecutionResult } from "graphql";
import type { Client } from "graphql-ws";
import {
  AdjustStockDocument,
  CartResumeDocument,
  EventCursorStockDocument,
  OrderPlacedAfterDocument,
  OrderUpdatedAfterDocument,
  ProductStockDocument,
  SetUserRoleDocument,
  StockResumeDocument,
  type Role,
  type StockResumeSubscription,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import {
  DEMO,
  REDIS_URL,
  logIn,
  metricValue,
  nextWithin,
  request,
  signUp,
  textOf,
  someProducts,
  uniquePrefix,
  useDatabase,
  waitForPruned,
  waitForSubscribers,
  wsClient,
} from "../harness/index.ts";
import { startMain } from "../harness/process.ts";
import { startProxy, type TcpProxy } from "../harness/proxy.ts";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const state = {} as { prefix: string; a: App; b: App; proxy: TcpProxy; staff: string; admin: string };
const clients: { dispose(): void | Promise<void> }[] = [];

// One database and signing key for the file; A and B reach Redis through the proxy.
const shared = useDatabase();
beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  state.proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
  state.prefix = uniquePrefix();
  const options = { redisPrefix: state.prefix, env: { REDIS_URL: `redis://127.0.0.1:${state.proxy.port}` } };
  state.a = await shared.start(options);
  state.b = await shared.start(options);
  state.staff = await logIn(state.a.url, DEMO.staff);
  state.admin = await logIn(state.a.url, DEMO.admin);
});
afterAll(async () => {
  await Promise.all([state.a.stop(), state.b.stop()]);
  await state.proxy.close();
  process.off("unhandledRejection", onUnhandled);
});
afterEach(async () => {
  state.proxy.restore();
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
  expect(unhandled).toEqual([]);
});

const STOCK = StockResumeDocument;
const CART = CartResumeDocument;

/** Events with the cursor every event carries in its extensions. */
type Events<T> = AsyncIterableIterator<FormattedExecutionResult<T, { cursor?: string }>>;

function subscribe<R, V>(app: App, document: TypedDocumentNode<R, V>, variables: V, token?: string) {
  const client = wsClient(app.wsUrl, token);
  clients.push(client);
  return { client, events: client.iterate<R, { cursor?: string }>({ query: textOf(document), variables: variables as Record<string, unknown> }) };
}

const adjust = (app: { url: string }, productId: string, delta: number) => request(app.url, AdjustStockDocument, { productId, delta }, state.staff);
const addToCart = (app: App, token: string, productId: string) => fixtures.addToCart(app.url, token, productId, 1);
const position = (cursor: string) => decodeCursor(cursor)!.position;
/** stockChanged (with its cursor) on a client of the test's own server. */
const subscribeTo = (client: Client, variables: { productIds: string[]; after?: string }) =>
  client.iterate<StockResumeSubscription, { cursor?: string }>({ query: textOf(STOCK), variables });
const metric = (app: App, name: string) => metricValue(app.url, name);
const stockChannel = (productId: string) => `${state.prefix}STOCK_CHANGED:${keyOf(productId, "Product")}`;

/** What a subscription answered first, an event or the errors it was refused with; bounded. */
async function refusal(events: AsyncIterator<unknown>, ms = 10_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([events.next().catch((errors: unknown) => ({ errors })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next event's data, or the error that ended the subscription. */
async function next<T>(events: Events<T>, ms = 10_000) {
  const result = await nextWithin(events, ms);
  // A delivered event: its data is there (an error would fail the assertion reading it).
  return result as typeof result & { data: T };
}

describe("the outbox", () => {
  it("a Redis outage loses nothing: events committed on B while Redis is cut reach A's subscriber, in order, once", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const user = await signUp(state.a.url);
    const stock = subscribe(state.a, STOCK, { productIds: [product!.id] });
    const cart = subscribe(state.a, CART, {}, user.token);
    await waitForSubscribers(stockChannel(product!.id));
    await waitForSubscribers(`${state.prefix}CART_UPDATED:${keyOf(user.userId, "User")}`);

    state.proxy.cut();
    // The mutations answer although Redis is away (the outbox has their events).
    const adjusted = await adjust(state.b, product!.id, 2);
    const added = await addToCart(state.b, user.token, product!.id);
    expect(adjusted.errors).toBeUndefined();
    expect(added.errors).toBeUndefined();
    state.proxy.restore();

    const stockEvent = await next(stock.events);
    const cartEvent = await next(cart.events);
    expect(stockEvent.data.stockChanged.stock).toBe(adjusted.data!.adjustStock.stock);
    expect(cartEvent.data.cartUpdated.version).toBe(added.data!.addToCart.version);
    // In commit order: the stock change was committed first.
    expect(position(stockEvent.data.stockChanged.cursor)).toBeLessThan(position(cartEvent.data.cartUpdated.cursor!));
    expect(stockEvent.extensions?.cursor).toBe(stockEvent.data.stockChanged.cursor);
    // Once: the next event is the next change, not a second copy (the relay may also have published it).
    const later = await adjust(state.a, product!.id, 1);
    expect((await next(stock.events)).data.stockChanged.stock).toBe(later.data!.adjustStock.stock);
  });

  it("only this instance's Redis connection cut: what it missed on Redis it reads from the outbox", async () => {
    // C talks to Redis directly, so its events are published and heard: the relay has nothing to
    // do, and only A's own catch-up can bring A's subscriber what A's Redis connection missed.
    const c = await shared.start({ redisPrefix: state.prefix });
    try {
      const [product] = await someProducts(state.a.url, 1);
      const stock = subscribe(state.a, STOCK, { productIds: [product!.id] });
      await waitForSubscribers(stockChannel(product!.id));
      const read = await metric(state.a, "cartwheel_outbox_read_events_total");
      state.proxy.cut();
      const changes = [await adjust(c, product!.id, 1), await adjust(c, product!.id, 1)];
      const received = [await next(stock.events), await next(stock.events)];
      expect(received.map((e) => e.data.stockChanged.stock)).toEqual(changes.map((r) => r.data!.adjustStock.stock));
      expect((await metric(state.a, "cartwheel_outbox_read_events_total")) - read).toBeGreaterThanOrEqual(2);
      state.proxy.restore();
      const later = await adjust(c, product!.id, 1);
      expect((await next(stock.events)).data.stockChanged.stock).toBe(later.data!.adjustStock.stock);
    } finally {
      await c.stop();
    }
  });

  it("resuming on an instance that is behind the cursor's: what the cursor covers is not sent again", async () => {
    const c = await shared.start({ redisPrefix: state.prefix });
    try {
      const [product] = await someProducts(state.a.url, 1);
      const onC = subscribe(c, STOCK, { productIds: [product!.id] });
      await waitForSubscribers(stockChannel(product!.id));
      // A misses C's events on Redis (its connection is cut) and learns of them only by its catch-up.
      state.proxy.cut();
      const seen = await adjust(c, product!.id, 1);
      const event = (await next(onC.events)).data.stockChanged;
      expect(event.stock).toBe(seen.data!.adjustStock.stock);
      // A really is behind the cursor's event (else this would test nothing).
      expect(state.a.bus.stats().position).toBeLessThan(position(event.cursor));
      const resumed = subscribe(state.a, STOCK, { productIds: [product!.id], after: event.cursor });
      const later = await adjust(c, product!.id, 1);
      expect((await next(resumed.events)).data.stockChanged.stock).toBe(later.data!.adjustStock.stock);
    } finally {
      state.proxy.restore();
      await c.stop();
    }
  });

  it("a process killed between commit and publish: the relay publishes its event, subscribers get it once", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const crashing = await startMain({
      DATABASE_URL: shared.url,
      DATA_DIR: shared.dataDir,
      REDIS_URL,
      REDIS_PREFIX: state.prefix,
      SEED_DEMO: "false",
      LOG_LEVEL: "info",
      CARTWHEEL_TEST_CRASH_AFTER_COMMIT: "1",
    });
    const stock = subscribe(state.a, STOCK, { productIds: [product!.id] });
    await waitForSubscribers(stockChannel(product!.id));
    // Listen on Redis itself: the orphaned event must be published there (by the relay), not only
    // read from the outbox by each instance.
    const sql = new pg.Client({ connectionString: shared.url });
    await sql.connect();
    const stream = (await sql.query("SELECT stream::text AS s FROM outbox_head")).rows[0].s as string;
    await sql.end();
    const listener = new Redis(REDIS_URL);
    const published: number[] = [];
    listener.on("message", (_channel: string, message: string) => published.push(...(JSON.parse(message) as { position: number }[]).map((e) => e.position)));
    await listener.subscribe(`${state.prefix}outbox:${stream}`);
    clients.push({ dispose: () => listener.disconnect() });
    const before = await fixtures.stockOf(state.a.url, product!.id);
    const relayed = async () => (await metric(state.a, "cartwheel_outbox_relayed_events_total")) + (await metric(state.b, "cartwheel_outbox_relayed_events_total"));
    const relayedBefore = await relayed();
    // The server commits, then dies before publishing: the client sees the connection drop.
    await expect(adjust({ url: crashing.url } as App, product!.id, 5)).rejects.toThrow();
    expect(await crashing.exited(10_000)).toBeNull();
    // Read as staff, past the response cache: no instance has been told of this commit yet (its
    // event waits for the relay), so an anonymous read may still be answered from before it.
    expect((await request(state.a.url, ProductStockDocument, { id: product!.id }, state.staff)).data?.product?.stock).toBe(before + 5);

    const delivered = (await next(stock.events, 15_000)).data.stockChanged;
    expect(delivered.stock).toBe(before + 5);
    expect(published).toContain(position(delivered.cursor));
    expect((await relayed()) - relayedBefore).toBeGreaterThanOrEqual(1);
    const later = await adjust(state.a, product!.id, 1);
    expect((await next(stock.events)).data.stockChanged.stock).toBe(later.data!.adjustStock.stock);
  });

  it("the outbox write is one statement per transaction, however many events it carries", async () => {
    const { db, bus } = state.a;
    const count = async (events: number) => {
      const before = db.statementCount();
      await transactional(db.prisma, bus, async (tx, emit) => {
        await tx.$queryRaw`SELECT 1`;
        for (let i = 0; i < events; i++) emit(event("PRODUCT_UPDATED", `no-such-product-${i}`, { productId: `no-such-product-${i}` }));
      });
      return db.statementCount() - before;
    };
    const none = await count(0);
    expect(await count(1)).toBe(none + 1);
    expect(await count(40)).toBe(none + 1);
  });
});

describe("resuming", () => {
  it("over WebSocket: events 1-3, disconnect, 4-6 happen, resume after 3 on the other instance: exactly 4, 5, 6, then live ones", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const first = subscribe(state.a, STOCK, { productIds: [product!.id] });
    await waitForSubscribers(stockChannel(product!.id));
    const seen: { stock: number; version: number; cursor: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const done = await adjust(state.a, product!.id, 1);
      const e = await next(first.events);
      expect(e.data.stockChanged.stock).toBe(done.data!.adjustStock.stock);
      seen.push(e.data.stockChanged);
    }
    await first.client.dispose();
    const missed: number[] = [];
    for (let i = 0; i < 3; i++) missed.push((await adjust(state.a, product!.id, 1)).data!.adjustStock.stock);

    const resumed = subscribe(state.b, STOCK, { productIds: [product!.id], after: seen[2]!.cursor });
    const replayed = [await next(resumed.events), await next(resumed.events), await next(resumed.events)].map((e) => e.data.stockChanged);
    expect(replayed.map((e) => e.stock)).toEqual(missed);
    expect(replayed.map((e) => e.version)).toEqual([seen[2]!.version + 1, seen[2]!.version + 2, seen[2]!.version + 3]);
    // Then live, with nothing skipped or repeated at the switch.
    await waitForSubscribers(stockChannel(product!.id));
    const live = await adjust(state.a, product!.id, 1);
    const liveEvent = (await next(resumed.events)).data.stockChanged;
    expect(liveEvent.stock).toBe(live.data!.adjustStock.stock);
    expect(liveEvent.version).toBe(seen[2]!.version + 4);
  });

  it("events committed while a resumed subscription replays are delivered once, in order", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const first = subscribe(state.a, STOCK, { productIds: [product!.id] });
    await waitForSubscribers(stockChannel(product!.id));
    await adjust(state.a, product!.id, 1);
    const start = (await next(first.events)).data.stockChanged;
    await first.client.dispose();
    for (let i = 0; i < 20; i++) await adjust(state.b, product!.id, 1);
    const resumed = subscribe(state.a, STOCK, { productIds: [product!.id], after: start.cursor });
    // More changes race the replay, from both instances.
    const racing = Promise.all(Array.from({ length: 10 }, (_, i) => adjust(i % 2 ? state.a : state.b, product!.id, 1)));
    const versions: number[] = [];
    for (let i = 0; i < 30; i++) versions.push((await next(resumed.events)).data.stockChanged.version);
    await racing;
    expect(versions).toEqual(Array.from({ length: 30 }, (_, i) => start.version + 1 + i));
  });

  it("replay is authorized like live events: a customer's resumed cart and orders never show another user's", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const x = await signUp(state.a.url);
    const y = await signUp(state.a.url);
    const first = subscribe(state.a, CART, {}, x.token);
    await waitForSubscribers(`${state.prefix}CART_UPDATED:${keyOf(x.userId, "User")}`);
    await addToCart(state.a, x.token, product!.id);
    const mark = (await next(first.events)).data.cartUpdated;
    await first.client.dispose();
    // Y's cart changes and orders, then one change of X's, all after X's cursor.
    await addToCart(state.a, y.token, product!.id);
    const order = await fixtures.checkout(state.a.url, y.token, "y-1");
    expect(order.errors).toBeUndefined();
    const mine = await addToCart(state.a, x.token, product!.id);

    const cart = subscribe(state.b, CART, { after: mark.cursor }, x.token);
    const replayed = (await next(cart.events)).data.cartUpdated;
    expect(replayed.version).toBe(mine.data!.addToCart.version);
    const orders = subscribe(state.b, OrderUpdatedAfterDocument, { after: mark.cursor }, x.token);
    // X placed no order: the first orderUpdated X sees is X's own checkout, made now.
    await waitForSubscribers(`${state.prefix}USER_ORDER_UPDATED:${keyOf(x.userId, "User")}`);
    const placed = await fixtures.checkout(state.a.url, x.token, "x-1");
    const seen = (await next(orders.events)).data.orderUpdated;
    expect(seen.id).toBe(placed.data!.checkout.id);
    expect(seen.customer.id).toBe(x.userId);
    // And X's cart replay held nothing of Y's: the next cart event is the checkout's emptying of X's cart.
    expect((await next(cart.events)).data.cartUpdated.items).toEqual([]);
  });

  it("a demoted staff member cannot resume orderPlaced; staff resuming from the same cursor get every order since", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const member = await signUp(state.a.url, "Soon demoted");
    const promote = (role: Role) => request(state.a.url, SetUserRoleDocument, { userId: member.userId, role }, state.admin);
    expect((await promote("STAFF")).errors).toBeUndefined();
    const staffToken = await logIn(state.a.url, { email: member.email, password: "correct horse battery" });
    const placedBy = async () => {
      const buyer = await signUp(state.a.url);
      await addToCart(state.a, buyer.token, product!.id);
      const res = await fixtures.checkout(state.a.url, buyer.token, "k");
      expect(res.errors).toBeUndefined();
      return res.data!.checkout.id;
    };
    const PLACED = OrderPlacedAfterDocument;
    const live = subscribe(state.a, PLACED, {}, staffToken);
    await waitForSubscribers(`${state.prefix}ORDER_PLACED:all`);
    await placedBy();
    const mark = (await next(live.events)).data.orderPlaced;
    await live.client.dispose();
    const beforeDemotion = await placedBy();
    expect((await promote("CUSTOMER")).errors).toBeUndefined();
    const afterDemotion = await placedBy();

    const refused = subscribe(state.b, PLACED, { after: mark.cursor }, staffToken);
    const answer = await refusal(refused.events);
    expect(JSON.stringify(answer)).toContain("FORBIDDEN");

    const other = subscribe(state.b, PLACED, { after: mark.cursor }, state.staff);
    expect((await next(other.events)).data.orderPlaced.id).toBe(beforeDemotion);
    expect((await next(other.events)).data.orderPlaced.id).toBe(afterDemotion);
  });

  it("eventCursor read with the data: a subscription after it gets every change made since the read", async () => {
    const [product] = await someProducts(state.a.url, 1);
    const read = await request(state.a.url, EventCursorStockDocument, { id: product!.id });
    expect(read.errors).toBeUndefined();
    // Changed between the read and the subscription, on the other instance.
    const missed = await adjust(state.b, product!.id, 3);
    const s = subscribe(state.b, STOCK, { productIds: [product!.id], after: read.data!.eventCursor });
    const first = (await next(s.events)).data.stockChanged;
    expect(first.stock).toBe(missed.data!.adjustStock.stock);
    expect(first.stock).toBe(read.data!.product!.stock + 3);
  });

  it("a cursor that is not ours is BAD_USER_INPUT", async () => {
    const [product] = await someProducts(state.a.url, 1);
    for (const after of ["nonsense", Buffer.from("o1:00000000:1").toString("base64url"), "x".repeat(100)]) {
      const s = subscribe(state.a, STOCK, { productIds: [product!.id], after });
      const answer = await refusal(s.events);
      expect(JSON.stringify(answer)).toContain("BAD_USER_INPUT");
    }
  });
});

describe("retention", () => {
  const db = useDatabase();

  it("a cursor older than OUTBOX_RETENTION gets CURSOR_EXPIRED; pruning keeps the newer events resumable", async () => {
    const app = await db.start({ env: { OUTBOX_RETENTION: "1s" } });
    const staff = await logIn(app.url, DEMO.staff);
    const [product] = await someProducts(app.url, 1);
    const bump = () => request(app.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff);
    const client = wsClient(app.wsUrl);
    clients.push(client);
    const events = subscribeTo(client, { productIds: [product!.id] });
    await waitForSubscribers(`STOCK_CHANGED:${keyOf(product!.id, "Product")}`);
    await bump();
    const old = (await next(events)).data.stockChanged.cursor;
    await bump();
    const kept = (await next(events)).data.stockChanged.cursor;
    const newest = await bump();
    // Wait on the pruning itself (bounded): the relay prunes once the events are older than 1 s.
    await waitForPruned(db.url, position(old));
    const expired = subscribeTo(client, { productIds: [product!.id], after: old });
    const answer = await refusal(expired);
    expect(JSON.stringify(answer)).toContain("CURSOR_EXPIRED");
    // The newest event is never pruned: a cursor right before it still resumes, with it.
    const resumed = subscribeTo(client, { productIds: [product!.id], after: kept });
    expect((await next(resumed)).data.stockChanged.stock).toBe(newest.data!.adjustStock.stock);
  });
});

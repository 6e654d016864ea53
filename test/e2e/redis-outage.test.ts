// Redis going away (a proxy in front of the shared Redis is cut, never the server itself): the
// instance keeps serving, new subscriptions wait for Redis instead of ending the process,
// mutations and log-ins answer promptly, and readiness names Redis.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { AdjustStockDocument, LogInDocument, ProductCountDocument, StockOnlyDocument } from "../generated/graphql.ts";
import { DEMO, REDIS_URL, createTestDatabase, logIn, request, nextWithin, someProducts, startTestServer, subscribe, tempDir, uniquePrefix, waitForSubscribers, wsClient } from "../harness/index.ts";
import { startProxy, type TcpProxy } from "../harness/proxy.ts";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const state = {} as { prefix: string; app: App; proxy: TcpProxy; dbUrl: string; drop(): Promise<void>; dir: { path: string; remove(): void }; staff: string };

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  const db = await createTestDatabase();
  state.dbUrl = db.url;
  state.drop = db.drop;
  state.dir = tempDir();
  state.proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
  state.prefix = uniquePrefix();
  state.app = await startTestServer({
    databaseUrl: db.url,
    dataDir: state.dir.path,
    redisPrefix: state.prefix,
    env: { REDIS_URL: `redis://127.0.0.1:${state.proxy.port}` },
  });
  state.staff = await logIn(state.app.url, DEMO.staff);
});
afterAll(async () => {
  await state.app.stop();
  await state.proxy.close();
  await state.drop();
  state.dir.remove();
  process.off("unhandledRejection", onUnhandled);
});
afterEach(() => {
  state.proxy.restore();
  expect(unhandled).toEqual([]);
});

const adjust = (productId: string, delta: number) =>
  request(state.app.url, AdjustStockDocument, { productId, delta }, state.staff);

/** `count` successful log-ins, then one stock change: how long each took, in ms. */
async function logInsThenMutation(count: number, productId: string): Promise<number[]> {
  const timings: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const res = await request(state.app.url, LogInDocument, DEMO.customer);
    expect(res.errors).toBeUndefined();
    timings.push(performance.now() - started);
  }
  const started = performance.now();
  expect((await adjust(productId, 1)).errors).toBeUndefined();
  timings.push(performance.now() - started);
  return timings;
}

async function ready() {
  const res = await fetch(state.app.url.replace("/graphql", "/health/ready"));
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

describe("Redis cut while the instance runs", () => {
  it("a new subscription on a channel nobody watched waits for Redis (no crash) and is live once Redis is back", async () => {
    const [, product] = await someProducts(state.app.url, 2);
    state.proxy.cut();
    const client = wsClient(state.app.wsUrl);
    const events = subscribe(client, StockOnlyDocument, { productIds: [product!.id] });
    try {
      // Before the fix, the queued SUBSCRIBE failed after two reconnection attempts and its
      // rejection ended the process; let the client retry well past that.
      await state.proxy.refusedAtLeast(6, 15_000);
      expect(unhandled).toEqual([]);
      // The instance still serves.
      const res = await request(state.app.url, ProductCountDocument);
      expect(res.errors).toBeUndefined();
      const readiness = await ready();
      expect(readiness.status).toBe(503);
      expect(readiness.body.reason).toMatch(/^redis: /);

      state.proxy.restore();
      // The queued SUBSCRIBE reaches Redis once the subscriber has reconnected.
      await waitForSubscribers(`${state.prefix}STOCK_CHANGED:${keyOf(product!.id, "Product")}`, 1, 15_000);
      const expected = (await adjust(product!.id, 1)).data!.adjustStock.stock;
      expect((await nextWithin(events)).data?.stockChanged.stock).toBe(expected);
    } finally {
      await events.return?.();
      await client.dispose();
    }
  });

  it("mutations and log-ins answer promptly while Redis is away; the limiter counts in memory", async () => {
    const [product] = await someProducts(state.app.url, 1);
    state.proxy.cut();
    const timings = await logInsThenMutation(5, product!.id);
    // Before: 1.8, 3.7, 5.5, 7.3, 9.2 s for five log-ins. A log-in hashes (argon2) in well under a second here.
    for (const ms of timings) expect(ms).toBeLessThan(1_500);
    // Failed attempts are still counted (in memory) while Redis is away.
    const failures = [];
    for (let i = 0; i < 6; i++) {
      failures.push((await request(state.app.url, LogInDocument, { email: DEMO.admin.email, password: "wrong" })).errors?.[0]?.extensions.code);
    }
    expect(failures.slice(0, 5)).toEqual(Array(5).fill("UNAUTHENTICATED"));
    expect(failures[5]).toBe("RATE_LIMITED");
  });
});

describe("Redis connected but not answering", () => {
  it("log-ins and mutations answer promptly: the limiter gives up on Redis after a short timeout and counts in memory", async () => {
    const [product] = await someProducts(state.app.url, 1);
    state.proxy.freeze();
    try {
      const timings = await logInsThenMutation(3, product!.id);
      // Before: a log-in waited until TCP gave up (still waiting after 15 s); publishing held the
      // mutation for its 1 s command timeout. The bound leaves room for argon2 on a loaded machine.
      for (const ms of timings) expect(ms).toBeLessThan(1_000);
    } finally {
      // Fresh connections for what follows: bytes dropped while frozen would confuse the old ones.
      state.proxy.cut();
      state.proxy.restore();
    }
    await expect.poll(async () => (await ready()).status, { timeout: 15_000, interval: 100 }).toBe(200);
  });
});

describe("Redis unreachable from the start", () => {
  it("the instance starts and serves; readiness names Redis; a new subscription does not end the process", async () => {
    const dead = await startProxy(1);
    dead.cut();
    const app = await startTestServer({
      databaseUrl: state.dbUrl,
      dataDir: state.dir.path,
      redisPrefix: uniquePrefix(),
      env: { REDIS_URL: `redis://127.0.0.1:${dead.port}` },
    });
    const client = wsClient(app.wsUrl);
    try {
      const [product] = await someProducts(app.url, 1);
      const events = subscribe(client, StockOnlyDocument, { productIds: [product!.id] });
      void events.next().catch(() => {});
      const before = dead.refused;
      await dead.refusedAtLeast(before + 6, 15_000);
      expect(unhandled).toEqual([]);
      const res = await fetch(app.url.replace("/graphql", "/health/ready"));
      expect(res.status).toBe(503);
      expect(((await res.json()) as { reason: string }).reason).toMatch(/^redis: /);
      const query = await nextWithin(subscribe(client, ProductCountDocument));
      expect(query.data?.products.totalCount).toBeGreaterThan(0);
      await events.return?.();
    } finally {
      await client.dispose();
      await app.stop();
      await dead.close();
    }
  });
});

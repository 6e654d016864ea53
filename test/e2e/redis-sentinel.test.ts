// REDIS_URL=redis+sentinel://<sentinel>/<master>: two instances on a private Sentinel set (a
// master, its replica, one Sentinel; redis-server processes on free ports, torn down after the file
// whatever happened) and the real PostgreSQL. The instances find the master through the Sentinel,
// share events, APQ and log-in counts through it, and after the master dies follow the Sentinel
// to the promoted replica by themselves, without an unhandled rejection.
import { createHash, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { AdjustStockDocument, LogInDocument, SignUpDocument, StockOnlyDocument } from "../generated/graphql.ts";
import { codeOf, logIn, nextWithin, ok, request, someProducts, subscribe, waitForSubscribers, wsClient } from "../harness/index.ts";
import { startRedisSentinel, useInstancesOnRedis } from "../harness/redis-topology.ts";

const state = useInstancesOnRedis(() => startRedisSentinel(), {
  // The outbox would bring B an event by itself after 3 x this grace: far beyond the waits below.
  OUTBOX_RELAY_GRACE: "60s",
  LOGIN_MAX_FAILURES_PER_ACCOUNT: "3",
});

async function onNode<T>(port: number, use: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
  try {
    return await use(node);
  } finally {
    node.disconnect();
  }
}

/** Polls `check` every 100 ms until true; fails with `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ready = async (app: App) => (await fetch(app.url.replace("/graphql", "/health/ready"))).status;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const post = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return (await response.json()) as { data?: unknown; errors?: { extensions: { code: string } }[] };
};

/** Both instances' connections are on the master at `port`, subscribed to the outbox channel there. */
async function onMaster(port: number): Promise<void> {
  const channel = `${state.prefix}outbox:${state.b.bus.streamId}`;
  await until(`the instances did not subscribe to ${channel} on 127.0.0.1:${port}`, () =>
    onNode(port, async (node) => Number(((await node.pubsub("NUMSUB", channel)) as [string, number])[1]) >= 2),
  );
  const names = await onNode(port, async (node) => [...((await node.client("LIST")) as string).matchAll(/ name=(cartwheel:\S+)/g)].map((m) => m[1]));
  for (const name of ["cartwheel:publisher", "cartwheel:subscriber", "cartwheel:commands"]) expect(names, name).toContain(name);
}

/** A stock change committed on A reaches a subscriber on B by pub/sub (B reads nothing from the outbox for it). */
async function eventFromAReachesB(): Promise<void> {
  const [product] = await someProducts(state.a.url, 1);
  const client = wsClient(state.b.wsUrl);
  const events = subscribe(client, StockOnlyDocument, { productIds: [product!.id] });
  try {
    await waitForSubscribers(`${state.prefix}STOCK_CHANGED:${keyOf(product!.id, "Product")}`, 1);
    const readFromOutbox = state.b.bus.stats().readFromOutbox;
    const changed = ok(await request(state.a.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, state.staff));
    expect((await nextWithin(events, 5_000)).data?.stockChanged.stock).toBe(changed.adjustStock.stock);
    expect(state.b.bus.stats().readFromOutbox).toBe(readFromOutbox);
  } finally {
    await events.return?.();
    await client.dispose();
  }
}

/** An APQ registered on A runs by hash on B. */
async function apqFromAOnB(): Promise<void> {
  const query = `query SentinelApq { me { id } } # ${randomUUID()}`;
  const persisted = { persistedQuery: { version: 1, sha256Hash: sha256(query) } };
  expect((await post(state.b.url, { extensions: persisted })).errors?.[0]?.extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
  expect((await post(state.a.url, { query, extensions: persisted })).errors).toBeUndefined();
  expect((await post(state.b.url, { extensions: persisted })).errors).toBeUndefined();
}

/** Failed log-ins counted on A refuse the account on B. */
async function limiterFromAOnB(): Promise<void> {
  const email = `sentinel-${randomUUID().slice(0, 8)}@cartwheel.test`;
  const password = "a long enough password";
  const signUp = await request(state.a.url, SignUpDocument, { input: { email, password, name: "Sentinel" } });
  expect(signUp.errors).toBeUndefined();
  const logInAs = (app: App, p: string) => request(app.url, LogInDocument, { email, password: p });
  for (let i = 0; i < 3; i++) expect(codeOf(await logInAs(state.a, "wrong"))).toBe("UNAUTHENTICATED");
  expect(codeOf(await logInAs(state.b, password))).toBe("RATE_LIMITED");
}

describe("two instances on a Sentinel set", () => {
  it("find the master through the Sentinel and share events, APQ and log-in counts there", async () => {
    expect(await ready(state.a)).toBe(200);
    expect(await ready(state.b)).toBe(200);
    await onMaster(state.redis.ports[0]!);
    await eventFromAReachesB();
    await apqFromAOnB();
    await limiterFromAOnB();
  });

  it("after the master dies, follow the Sentinel to the promoted replica: ready again, and sharing there", async () => {
    const [master, replica] = state.redis.ports as [number, number];
    await state.redis.kill(master);
    await state.redis.masterIs(replica, 20_000);
    await until("the instances were not ready again", async () => (await ready(state.a)) === 200 && (await ready(state.b)) === 200);
    await onMaster(replica);
    await eventFromAReachesB();
    await apqFromAOnB();
    await limiterFromAOnB();
  }, 60_000);
});

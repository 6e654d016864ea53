// The deployment as compose.yaml runs it: two real server processes (NODE_ENV=production, one
// PostgreSQL database, one Redis prefix, one signing key) behind HAProxy with the repository's
// deploy/haproxy/haproxy.cfg. HAProxy names the instance that answered in X-Served-By (also on
// a WebSocket's 101), so each check knows where each request and socket landed.
import { randomUUID } from "node:crypto";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import WebSocket from "ws";
import { AdjustStockDocument, StockOnlyDocument, TopologyProductsDocument, type StockOnlySubscription } from "../generated/graphql.ts";
import { DEMO, REDIS_URL, createTestDatabase, logIn, newSigningKey, tempDir, textOf } from "../harness/index.ts";
import { freePort, startBalancer, type Balancer } from "../harness/balancer.ts";
import { startMain } from "../harness/process.ts";

type Instance = Awaited<ReturnType<typeof startMain>>;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const dir = tempDir("cartwheel-topology-");
const prefix = `cwtest:${randomUUID().slice(0, 8)}:`;
const key = newSigningKey();
const ports: number[] = [];
const instances: Instance[] = [];
let lb: Balancer;

/** Instance `i` (0 or 1, HAProxy's cw1 or cw2) on its fixed port, configured as compose.yaml does. */
function startInstance(i: number): Promise<Instance> {
  return startMain({
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: String(ports[i]),
    DATABASE_URL: db.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    JWT_PRIVATE_KEY: key,
    DATA_DIR: dir.path,
    TRUST_PROXY: "1",
    // SHUTDOWN_DELAY and SHUTDOWN_TIMEOUT keep their defaults, as in compose.yaml: those are the
    // values whose relation to the health checks the rolling restart proves.
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  ports.push(await freePort(), await freePort());
  instances.push(...(await Promise.all([startInstance(0), startInstance(1)])));
  lb = await startBalancer([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
  await Promise.all([lb.waitForStatus("cw1", "UP"), lb.waitForStatus("cw2", "UP")]);
}, 180_000);

afterAll(async () => {
  await lb?.stop();
  await Promise.all(instances.map(async (s) => (s.child.exitCode === null ? (s.child.kill("SIGKILL"), s.exited(10_000)) : undefined)));
  await db?.drop();
  dir.remove();
});

/** A stockChanged event as graphql-ws hands it over. */
type StockEvent = { data?: StockOnlySubscription | null; errors?: unknown[] };

interface Answer<R> {
  status: number;
  servedBy: string | null;
  body: { data?: R; errors?: unknown[]; notJson?: string };
}

/** A GraphQL POST through the balancer, with the instance that answered it. */
async function post<R, V>(document: TypedDocumentNode<R, V>, variables?: V, token?: string): Promise<Answer<R>> {
  const res = await fetch(`${lb.origin}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: textOf(document), variables: variables ?? {} }),
  });
  const text = await res.text();
  let body: Answer<R>["body"];
  try {
    body = JSON.parse(text) as Answer<R>["body"];
  } catch {
    body = { notJson: text.slice(0, 200) }; // HAProxy's own error pages are HTML
  }
  return { status: res.status, servedBy: res.headers.get("x-served-by"), body };
}

/** A graphql-ws client through the balancer; `servedBy` resolves with the instance its upgrade landed on. */
function subscriber(): { client: Client; servedBy: Promise<string> } {
  let landed!: (name: string) => void;
  const servedBy = new Promise<string>((resolve) => (landed = resolve));
  class Recorded extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.once("upgrade", (res) => landed(String(res.headers["x-served-by"])));
    }
  }
  const client = createClient({ url: `${lb.origin.replace("http", "ws")}/graphql`, webSocketImpl: Recorded, lazy: false, retryAttempts: 0, onNonLazyError: () => {} });
  onTestFinished(() => client.dispose());
  return { client, servedBy };
}

/** Events of one subscription, and a bounded wait for one that `match` accepts. */
function collect(client: Client, productId: string) {
  const events: StockEvent[] = [];
  const waiters = new Set<() => void>();
  const errors: unknown[] = [];
  const stop = client.subscribe(
    { query: textOf(StockOnlyDocument), variables: { productIds: [productId] } },
    { next: (value) => (events.push(value as StockEvent), waiters.forEach((w) => w())), error: (error) => errors.push(error), complete: () => {} },
  );
  return {
    events,
    errors,
    stop,
    /** The first event `match` accepts, or undefined after `ms`. */
    waitFor(match: (event: StockEvent) => boolean, ms: number): Promise<StockEvent | undefined> {
      return new Promise((resolve) => {
        const check = () => {
          const found = events.find(match);
          if (found) done(found);
        };
        const timer = setTimeout(() => done(undefined), ms);
        const done = (value: StockEvent | undefined) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(value);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe("two instances behind HAProxy", () => {
  it("balances HTTP queries over both instances and passes a WebSocket subscription through", async () => {
    const answers = await Promise.all([0, 1, 2, 3].map(() => post(TopologyProductsDocument)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.errors).toBeUndefined();
      expect(a.body.data!.products.edges.length).toBeGreaterThan(0);
    }
    expect(new Set(answers.map((a) => a.servedBy))).toEqual(new Set(["cw1", "cw2"]));

    const { client, servedBy } = subscriber();
    expect(["cw1", "cw2"]).toContain(await servedBy);
    const staff = await logIn(`${lb.origin}/graphql`, DEMO.staff);
    const productId = answers[0]!.body.data!.products.edges[0]!.node.id;
    const sub = collect(client, productId);
    // The subscription is live once a change reaches it: change the stock until one does (bounded).
    let delivered: StockEvent | undefined;
    for (let round = 0; round < 10 && !delivered; round++) {
      const change = await post(AdjustStockDocument, { productId, delta: 1 }, staff);
      expect(change.body.errors).toBeUndefined();
      delivered = await sub.waitFor((e) => e.data?.stockChanged.stock === change.body.data!.adjustStock.stock, 1_000);
    }
    expect(delivered, "no stockChanged event arrived through the balancer").toBeDefined();
    expect(sub.errors).toEqual([]);
    sub.stop();
    await client.dispose();
  }, 60_000);

  it("delivers a stock change made on one instance to a subscriber connected to the other", async () => {
    const staff = await logIn(`${lb.origin}/graphql`, DEMO.staff);
    const productId = (await post(TopologyProductsDocument)).body.data!.products.edges[1]!.node.id;
    const { client, servedBy } = subscriber();
    const subscriberOn = await servedBy;
    const sub = collect(client, productId);

    // Round robin sends consecutive mutations to alternate instances; X-Served-By says which one
    // ran each, and every change leaves a distinct stock value, so an event names its mutation.
    let crossed: { stock: number; ranOn: string } | undefined;
    for (let round = 0; round < 20 && !crossed; round++) {
      const change = await post(AdjustStockDocument, { productId, delta: 1 }, staff);
      expect(change.body.errors).toBeUndefined();
      const stock = change.body.data!.adjustStock.stock as number;
      if (change.servedBy === subscriberOn) continue;
      const event = await sub.waitFor((e) => e.data?.stockChanged.stock === stock, 2_000);
      if (event) crossed = { stock, ranOn: change.servedBy! };
    }
    expect(crossed, `no event from the other instance reached the subscriber on ${subscriberOn}`).toBeDefined();
    expect(crossed!.ranOn).not.toBe(subscriberOn);
    expect(sub.errors).toEqual([]);
    sub.stop();
    await client.dispose();
  }, 60_000);

  it("restarts both instances one after the other under steady load without a failed request", async () => {
    // A subscriber through the balancer for the whole restart: each instance it is on closes it
    // with 1001 as it drains, and graphql-ws reconnects (through the balancer, to a live one).
    const staff = await logIn(`${lb.origin}/graphql`, DEMO.staff);
    const productId = (await post(TopologyProductsDocument)).body.data!.products.edges[2]!.node.id;
    const closes: number[] = [];
    const live = createClient({
      url: `${lb.origin.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 10,
      retryWait: () => new Promise((r) => setTimeout(r, 200)), // the client's backoff, not the test's wait
      on: { closed: (event) => closes.push((event as { code: number }).code) },
      onNonLazyError: () => {},
    });
    onTestFinished(() => live.dispose());
    const sub = collect(live, productId);
    const results: { ok: boolean; servedBy: string | null; at: number; detail?: string }[] = [];
    let running = true;
    // Four clients in a loop for the duration (each bounded to 20,000 requests).
    const worker = async () => {
      for (let n = 0; running && n < 20_000; n++) {
        try {
          const a = await post(TopologyProductsDocument);
          const ok = a.status === 200 && a.body.errors === undefined && (a.body.data?.products.edges.length ?? 0) > 0;
          results.push({ ok, servedBy: a.servedBy, at: Date.now(), ...(ok ? {} : { detail: `${a.status} ${JSON.stringify(a.body).slice(0, 200)}` }) });
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause;
          results.push({ ok: false, servedBy: null, at: Date.now(), detail: cause?.code ?? (error as Error).message });
        }
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    const servedAfter = async (name: string, since: number, ms: number) => {
      for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        if (results.some((r) => r.ok && r.servedBy === name && r.at > since)) return true;
      }
      return false;
    };

    try {
      expect(await servedAfter("cw1", 0, 10_000)).toBe(true);
      expect(await servedAfter("cw2", 0, 10_000)).toBe(true);
      for (const [i, name] of [[0, "cw1"], [1, "cw2"]] as const) {
        const old = instances[i]!;
        old.child.kill("SIGTERM");
        // HAProxy takes it out while it still serves (readiness 503 during SHUTDOWN_DELAY), before
        // its listener closes: the relation the config's check timing is tuned for.
        await lb.waitForStatus(name, "DOWN", 10_000);
        expect(old.logs().some((l) => String(l.msg).startsWith("stopping:")), `${name} closed its listener before HAProxy took it out`).toBe(false);
        expect(await old.exited(60_000)).toBe(0);
        const downSince = Date.now();
        // Same port again (HAProxy's config names it); freed a moment ago by the exit.
        instances[i] = await startInstance(i);
        await lb.waitForStatus(name, "UP", 30_000);
        expect(await servedAfter(name, downSince, 10_000), `${name} got no traffic after it came back`).toBe(true);
      }
    } finally {
      running = false;
      await Promise.all(workers);
    }
    const failed = results.filter((r) => !r.ok);
    expect(failed.length, `${failed.length} of ${results.length} failed, first: ${JSON.stringify(failed.slice(0, 5))}`).toBe(0);
    expect(results.length).toBeGreaterThan(100);

    // The subscriber was moved at least once (its instance restarted), only ever with 1001, and
    // still receives changes: the subscription was resumed on the instance it reconnected to.
    expect(closes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(closes)).toEqual(new Set([1001]));
    let delivered: unknown;
    for (let round = 0; round < 10 && !delivered; round++) {
      const change = await post(AdjustStockDocument, { productId, delta: 1 }, staff);
      expect(change.body.errors).toBeUndefined();
      delivered = await sub.waitFor((e) => e.data?.stockChanged.stock === change.body.data!.adjustStock.stock, 2_000);
    }
    expect(delivered, "the reconnected subscriber got no stock change after the restarts").toBeDefined();
    expect(sub.errors).toEqual([]);
    sub.stop();
    await live.dispose();
  }, 240_000);
});

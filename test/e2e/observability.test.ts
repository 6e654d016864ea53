// What an on-call engineer reads: one log line per HTTP request and per WebSocket operation, a
// request id that ties a client's masked 500 to the log line of its error, and /metrics with
// latency, errors, events, Redis, the pool and live subscriptions; /metrics behind a token or on
// a port of its own. On the real server, PostgreSQL (behind a proxy that the test cuts) and Redis.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { MAX_REQUEST_ID_LENGTH } from "../../src/server/request-log.ts";
import { ADMIN_DATABASE_URL } from "../harness/env.ts";
import { startProxy, type TcpProxy } from "../harness/proxy.ts";
import {
  AdjustStockDocument,
  CatalogDocument,
  CategoriesDocument,
  CategoryIdsDocument,
  LiveStockDocument,
  MeDocument,
  PeekCostDocument,
  StockOnlyDocument,
  WsCategoriesDocument,
  WsOutageDocument,
} from "../generated/graphql.ts";
import {
  DEMO,
  REDIS_URL,
  captureLog,
  createTestDatabase,
  logIn,
  nextWithin,
  request,
  someProducts,
  startTestServer,
  subscribe,
  tempDir,
  textOf,
  uniquePrefix,
  wsClient,
} from "../harness/index.ts";

const METRICS_TOKEN = "scrape-token-0123456789abcdef";
const state = {} as {
  app: App;
  logs: ReturnType<typeof captureLog>;
  proxy: TcpProxy;
  databaseUrl: string;
  dataDir: string;
  drop(): Promise<void>;
  removeDir(): void;
  others: App[];
};

beforeAll(async () => {
  const db = await createTestDatabase();
  const dir = tempDir();
  const target = new URL(ADMIN_DATABASE_URL);
  state.proxy = await startProxy(Number(target.port || 5432), target.hostname);
  const url = new URL(db.url);
  url.hostname = "127.0.0.1";
  url.port = String(state.proxy.port);
  Object.assign(state, { databaseUrl: url.toString(), dataDir: dir.path, drop: db.drop, removeDir: dir.remove, others: [] });
  state.logs = captureLog("info");
  state.app = await startTestServer({
    databaseUrl: state.databaseUrl,
    dataDir: dir.path,
    redisPrefix: uniquePrefix(),
    log: state.logs.log,
    // The cut below must fail fast, not wait out the pool's 5 s.
    env: { DATABASE_POOL_TIMEOUT: "1s", RESPONSE_CACHE: "false", METRICS_TOKEN },
  });
});
afterAll(async () => {
  state.proxy?.restore();
  await Promise.all([state.app, ...(state.others ?? [])].filter(Boolean).map((app) => app.stop()));
  await state.proxy?.close();
  await state.drop?.();
  state.removeDir?.();
});

// The operations whose log lines or /metrics labels are read are named in test/operations/observability.graphql;
// what stays text here does not validate (the refusals counted), has a name made per run (no label of its own),
// or is LogIn with the refresh token selected (the fixtures' LogIn has that name).
async function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(state.app.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

async function scrape(app: App = state.app): Promise<string> {
  const res = await fetch(`${new URL(app.url).origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of the sample `series` (name and exact labels as printed), NaN when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

const isRequestLine = (requestId: string) => (line: Record<string, unknown>) => line.msg === "request" && line.requestId === requestId;

describe("request ids", () => {
  it("are taken from x-request-id when it is a short token, made otherwise, and on every answer", async () => {
    const given = `lb-${randomUUID()}`;
    const taken = await post({ query: textOf(CategoryIdsDocument) }, { "x-request-id": given });
    expect(taken.headers.get("x-request-id")).toBe(given);

    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const made = await post({ query: textOf(CategoryIdsDocument) });
    expect(made.headers.get("x-request-id")).toMatch(uuid);
    const tooLong = await post({ query: textOf(CategoryIdsDocument) }, { "x-request-id": "a".repeat(MAX_REQUEST_ID_LENGTH + 1) });
    expect(tooLong.headers.get("x-request-id")).toMatch(uuid);
    // Something that could forge a log line or a header is never echoed.
    const odd = await post({ query: textOf(CategoryIdsDocument) }, { "x-request-id": 'x" injected {}' });
    expect(odd.headers.get("x-request-id")).toMatch(uuid);
    expect((await post({ query: textOf(CategoryIdsDocument) }, { "x-request-id": "a".repeat(MAX_REQUEST_ID_LENGTH) })).headers.get("x-request-id")).toBe("a".repeat(MAX_REQUEST_ID_LENGTH));

    const origin = new URL(state.app.url).origin;
    for (const path of ["/health/live", "/health/ready", "/nowhere", "/.well-known/jwks.json"]) {
      const res = await fetch(`${origin}${path}`, { headers: { "x-request-id": `probe-${path.length}` } });
      expect(res.headers.get("x-request-id"), path).toBe(`probe-${path.length}`);
    }
  });

  it("a masked INTERNAL_SERVER_ERROR carries the request id of its response header and of the log line of its error", async () => {
    const requestId = `outage-${randomUUID()}`;
    state.proxy.cut();
    let res: Response;
    try {
      res = await post({ query: textOf(CatalogDocument) }, { "x-request-id": requestId });
    } finally {
      state.proxy.restore();
    }
    const body = (await res.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(res.headers.get("x-request-id")).toBe(requestId);
    expect(body.errors.length).toBeGreaterThan(0);
    for (const error of body.errors) {
      expect(error.extensions.code).toBe("INTERNAL_SERVER_ERROR");
      expect(error.extensions.requestId).toBe(requestId);
      // Masked: nothing of the driver's message, no stack.
      expect(error.message).toBe("Internal server error");
      expect(JSON.stringify(error)).not.toMatch(/ECONN|connect|stack|terminat/i);
    }
    const unexpected = await state.logs.waitFor((line) => line.msg === "unexpected error" && line.requestId === requestId);
    expect(unexpected.level).toBe(50);
    // The real failure, which the client never sees, is in the log.
    expect((unexpected.err as { message?: string }).message).toMatch(/connect|terminat|ECONN|closed|timeout/i);
    const access = await state.logs.waitFor(isRequestLine(requestId));
    expect(access).toMatchObject({ route: "/graphql", operation: { type: "query", name: "Catalog" }, errors: expect.arrayContaining(["INTERNAL_SERVER_ERROR"]) });
    // Logged once, not once per hook that saw it.
    expect(state.logs.lines.filter((line) => line.msg === "unexpected error" && line.requestId === requestId)).toHaveLength(1);
    // PostgreSQL was to render this query's whole answer (CATALOG_READS=direct): that failed first,
    // a warning, and the executor then ran it, whose failure is the error above.
    const direct = state.logs.lines.filter((line) => line.msg === "a catalog query could not be answered directly: the executor answers it" && line.requestId === requestId);
    expect(direct).toHaveLength(1);
    expect(direct[0]!.level).toBe(40);
  });

  it("a failure before the operation runs (a bearer token's session check, database gone) is masked with the request id too", async () => {
    const token = await logIn(state.app.url, DEMO.customer);
    const requestId = `session-${randomUUID()}`;
    state.proxy.cut();
    let res: Response;
    try {
      res = await post({ query: textOf(MeDocument) }, { authorization: `Bearer ${token}`, "x-request-id": requestId });
    } finally {
      state.proxy.restore();
    }
    expect(res.status).toBe(500);
    const body = (await res.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(body.errors).toEqual([{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR", requestId } }]);
    await state.logs.waitFor((line) => line.msg === "unexpected error" && line.requestId === requestId);
    expect(state.logs.lines.filter((line) => line.msg === "unexpected error" && line.requestId === requestId)).toHaveLength(1);
    expect(await state.logs.waitFor(isRequestLine(requestId))).toMatchObject({ status: 500, errors: ["INTERNAL_SERVER_ERROR"] });
  });

  it("over the WebSocket too: the masked error's requestId is that of its operation's log line and of its error's", async () => {
    const client = wsClient(state.app.wsUrl);
    try {
      // Connected (and acknowledged) before the database goes.
      await nextWithin(subscribe(client, CategoryIdsDocument));
      state.proxy.cut();
      let result: { errors?: readonly { message: string; extensions?: Record<string, unknown> }[] };
      try {
        result = await nextWithin(subscribe(client, WsOutageDocument));
      } finally {
        state.proxy.restore();
      }
      const [error] = result.errors ?? [];
      expect(error?.extensions?.code).toBe("INTERNAL_SERVER_ERROR");
      const requestId = error?.extensions?.requestId;
      expect(typeof requestId).toBe("string");
      await state.logs.waitFor((line) => line.msg === "unexpected error" && line.requestId === requestId);
      const line = await state.logs.waitFor((line) => line.msg === "operation" && (line.operation as { name?: string }).name === "WsOutage");
      expect(line).toMatchObject({ requestId, outcome: "error", errors: ["INTERNAL_SERVER_ERROR"] });
    } finally {
      await client.dispose();
    }
  });
});

describe("access log", () => {
  it("one line per HTTP request: id, operation, duration, status, codes, user and address; never a password or token", async () => {
    const password = DEMO.customer.password;
    const logInId = `login-${randomUUID()}`;
    const loggedIn = (await (
      await post({ query: "mutation LogIn($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken refreshToken user { id } } }", variables: { e: DEMO.customer.email, p: password } }, { "x-request-id": logInId })
    ).json()) as { data: { logIn: { accessToken: string; refreshToken: string; user: { id: string } } } };
    const { accessToken, refreshToken } = loggedIn.data.logIn;
    const line = await state.logs.waitFor(isRequestLine(logInId));
    expect(line).toMatchObject({ level: 30, method: "POST", route: "/graphql", status: 200, operation: { type: "mutation", name: "LogIn" }, clientAddress: "127.0.0.1" });
    expect(typeof line.durationMs).toBe("number");
    expect(line.errors).toBeUndefined();

    const meId = `me-${randomUUID()}`;
    await post({ query: textOf(MeDocument) }, { authorization: `Bearer ${accessToken}`, "x-request-id": meId });
    const me = await state.logs.waitFor(isRequestLine(meId));
    expect(me.userId).toBeTruthy();
    expect(me.operation).toEqual({ type: "query", name: "Me" });

    const refusedId = `bad-${randomUUID()}`;
    await post({ query: "{ products(first: 5) { edges { node { nope } } } }" }, { "x-request-id": refusedId });
    expect((await state.logs.waitFor(isRequestLine(refusedId))).errors).toEqual(["BAD_USER_INPUT"]);

    const text = state.logs.text();
    for (const secret of [password, accessToken, refreshToken]) expect(text).not.toContain(secret);
  });

  it("one line per WebSocket operation when it ends, with its outcome and codes", async () => {
    const [product] = await someProducts(state.app.url, 1);
    const client = wsClient(state.app.wsUrl);
    try {
      const query = subscribe(client, WsCategoriesDocument);
      await nextWithin(query);
      const done = await state.logs.waitFor((line) => line.msg === "operation" && (line.operation as { name?: string }).name === "WsCategories");
      expect(done).toMatchObject({ transport: "ws", outcome: "complete", operation: { type: "query" }, clientAddress: "127.0.0.1" });
      expect(typeof done.requestId).toBe("string");

      const refused = client.iterate({ query: "subscription Refused { stockChanged(productIds: []) { nope } }", operationName: "Refused" });
      await expect(nextWithin(refused)).rejects.toBeTruthy();
      // Refused before it ran: the line names what the client asked for.
      const failed = await state.logs.waitFor((line) => line.msg === "operation" && (line.operation as { name?: string }).name === "Refused");
      expect(failed).toMatchObject({ transport: "ws", outcome: "error", errors: ["BAD_USER_INPUT"], operation: { type: null }, clientAddress: "127.0.0.1" });

      // A subscription is counted live by field while it runs, and its line comes when it ends.
      const before = await scrape();
      expect(sample(before, 'cartwheel_subscriptions{field="stockChanged"}') || 0).toBe(0);
      const live = subscribe(client, LiveStockDocument, { productIds: [product!.id] });
      const first = live.next();
      await waitForMetric('cartwheel_subscriptions{field="stockChanged"}', (v) => v === 1);
      await live.return?.();
      void first.catch(() => {});
      await waitForMetric('cartwheel_subscriptions{field="stockChanged"}', (v) => !(v > 0));
      expect(await state.logs.waitFor((line) => line.msg === "operation" && (line.operation as { name?: string }).name === "LiveStock")).toMatchObject({
        operation: { type: "subscription" },
        outcome: "complete",
      });
    } finally {
      await client.dispose();
    }
  });
});

describe("subscription events with errors", () => {
  it("are counted by code and on the subscriber's operation line", async () => {
    const [product] = await someProducts(state.app.url, 1);
    const staff = await logIn(state.app.url, DEMO.staff);
    const refusedCode = 'cartwheel_graphql_errors_total{code="UNAUTHENTICATED",transport="ws"}';
    const before = sample(await scrape(), refusedCode) || 0;
    const client = wsClient(state.app.wsUrl);
    try {
      // costPrice is STAFF only: an anonymous subscriber gets each event with an UNAUTHENTICATED error in it.
      const events = subscribe(client, PeekCostDocument, { productIds: [product!.id] });
      const first = events.next();
      await waitForMetric('cartwheel_subscriptions{field="stockChanged"}', (v) => v >= 1);
      expect((await request(state.app.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff)).errors).toBeUndefined();
      const event = (await Promise.race([first, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no event within 5 s")), 5_000))])) as IteratorResult<{
        errors?: { extensions?: { code?: string } }[];
      }>;
      expect(event.value?.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect(sample(await scrape(), refusedCode)).toBe(before + 1);
      await events.return?.();
      expect(await state.logs.waitFor((line) => line.msg === "operation" && (line.operation as { name?: string }).name === "PeekCost")).toMatchObject({
        outcome: "error",
        errors: ["UNAUTHENTICATED"],
      });
    } finally {
      await client.dispose();
    }
  });
});

describe("a Redis outage on /metrics", () => {
  it("the connections go down, the deferred publish is counted, the outbox lag shows until the relay publishes, then all is back", async () => {
    const redisProxy = await startProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    try {
      // Two instances of one deployment, with a long grace: A's event stays unpublished, and B
      // behind the outbox head, while Redis is cut (B would read it itself only after 3 x 5 s).
      const options = {
        databaseUrl: state.databaseUrl,
        dataDir: state.dataDir,
        redisPrefix: uniquePrefix(),
        env: { REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`, OUTBOX_RELAY_GRACE: "5s", METRICS_TOKEN },
      };
      const a = await startTestServer(options);
      state.others.push(a);
      const b = await startTestServer(options);
      state.others.push(b);
      const now = (app: App, series: string) => waitForMetric(series, () => true, 5_000, app);
      expect(await now(a, 'cartwheel_redis_connection_up{connection="publisher"}')).toBe(1);
      const failures = await now(a, "cartwheel_event_publish_failures_total");
      const staff = await logIn(a.url, DEMO.staff);
      const [product] = await someProducts(a.url, 1);
      redisProxy.cut();
      for (const connection of ["publisher", "subscriber", "cache"]) await waitForMetric(`cartwheel_redis_connection_up{connection="${connection}"}`, (v) => v === 0, 5_000, a);
      expect((await request(a.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff)).errors).toBeUndefined();
      expect(await now(a, "cartwheel_event_publish_failures_total")).toBe(failures + 1);
      await waitForMetric("cartwheel_outbox_lag_events", (v) => v >= 1, 5_000, b);
      await waitForMetric("cartwheel_outbox_lag_seconds", (v) => v > 0, 5_000, b);
      redisProxy.restore();
      await waitForMetric('cartwheel_redis_connection_up{connection="publisher"}', (v) => v === 1, 10_000, a);
      // Back on Redis, B reads what it missed (and the relay publishes what was never heard): caught up.
      await waitForMetric("cartwheel_outbox_lag_events", (v) => v === 0, 20_000, b);
      expect(await now(b, "cartwheel_outbox_lag_seconds")).toBe(0);
    } finally {
      redisProxy.restore();
      await redisProxy.close();
    }
  }, 60_000);
});

/** Scrapes until `series` satisfies `ok` (bounded). */
async function waitForMetric(series: string, ok: (value: number) => boolean, ms = 5_000, app: App = state.app): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = sample(await scrape(app), series);
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${series} stayed ${value} for ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("/metrics", () => {
  it("latency by operation (manifest names only), errors by code, events published, Redis, the pool", async () => {
    // The harness's own (named) operations run first: between the scrapes only these requests count.
    const staff = await logIn(state.app.url, DEMO.staff);
    const [product] = await someProducts(state.app.url, 1);
    const before = await scrape();
    const known = 'cartwheel_graphql_operation_duration_seconds_count{type="query",name="Categories",transport="http"}';
    const other = 'cartwheel_graphql_operation_duration_seconds_count{type="query",name="(other)",transport="http"}';
    const badInput = 'cartwheel_graphql_errors_total{code="BAD_USER_INPUT",transport="http"}';
    await post({ query: textOf(CategoriesDocument) });
    await post({ query: `query Made${randomUUID().replace(/-/g, "")} { categories { id } }` });
    await post({ query: "{ nope }" });
    const published = sample(before, "cartwheel_events_published_total");
    const adjusted = await request(state.app.url, AdjustStockDocument, { productId: product!.id, delta: 1 }, staff);
    expect(adjusted.errors).toBeUndefined();

    const after = await scrape();
    expect(sample(after, known) - (sample(before, known) || 0)).toBe(1);
    expect(sample(after, other) - (sample(before, other) || 0)).toBe(1);
    // The made-up name is no label of its own: callers cannot grow /metrics.
    expect(after).not.toMatch(/name="Made/);
    expect(sample(after, badInput) - (sample(before, badInput) || 0)).toBe(1);
    expect(after).toMatch(/cartwheel_graphql_operation_duration_seconds_bucket\{le="0.005",type="query",name="Categories",transport="http"\}/);
    await waitForMetric("cartwheel_events_published_total", (v) => v >= published + 1);
    expect(sample(after, 'cartwheel_redis_connection_up{connection="publisher"}')).toBe(1);
    expect(sample(after, 'cartwheel_redis_connection_up{connection="subscriber"}')).toBe(1);
    expect(sample(after, 'cartwheel_redis_connection_up{connection="cache"}')).toBe(1);
    expect(sample(after, 'cartwheel_db_pool_connections{state="max"}')).toBe(10);
    expect(sample(after, 'cartwheel_db_pool_connections{state="in_use"}')).toBeGreaterThanOrEqual(0);
    expect(sample(after, "cartwheel_db_pool_waiting")).toBe(0);
    expect(sample(after, "cartwheel_outbox_lag_events")).toBeGreaterThanOrEqual(0);
    expect(after).toMatch(/^cartwheel_outbox_lag_seconds /m);
  });

  it("refusals before any operation runs are counted and logged too (SSE included)", async () => {
    const series = 'cartwheel_graphql_errors_total{code="BAD_USER_INPUT",transport="sse"}';
    const before = sample(await scrape(), series) || 0;
    const requestId = `sse-${randomUUID()}`;
    const search = new URLSearchParams({ query: textOf(StockOnlyDocument), variables: JSON.stringify({ productIds: [] }) });
    const res = await fetch(`${new URL(state.app.url).origin}/graphql/stream?${search}`, {
      headers: { accept: "text/event-stream", "last-event-id": "x".repeat(200), "x-request-id": requestId },
    });
    expect(res.status).toBe(400);
    await res.text();
    expect(await state.logs.waitFor(isRequestLine(requestId))).toMatchObject({ route: "/graphql/stream", status: 400, errors: ["BAD_USER_INPUT"] });
    expect(sample(await scrape(), series)).toBe(before + 1);
  });

  it("asks for METRICS_TOKEN when it is set", async () => {
    const url = `${new URL(state.app.url).origin}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: "Bearer not-the-token-at-all" } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
  });

  it("moves to its own port with METRICS_PORT: the API port answers 404 there", async () => {
    const app = await startTestServer({ databaseUrl: state.databaseUrl, dataDir: state.dataDir, env: { METRICS_PORT: "0" } });
    state.others.push(app);
    expect(app.metricsPort).toBeGreaterThan(0);
    expect(app.metricsPort).not.toBe(app.port);
    expect((await fetch(`${new URL(app.url).origin}/metrics`)).status).toBe(404);
    const own = await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`);
    expect(own.status).toBe(200);
    expect(await own.text()).toMatch(/^cartwheel_sql_statements_total /m);
    expect((await fetch(`http://127.0.0.1:${app.metricsPort}/graphql`)).status).toBe(404);
  });
});

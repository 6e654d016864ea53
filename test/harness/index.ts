// The test harness: real servers on port 0 over a clone of the seeded template database, typed
// requests (http.ts: `request()` with documents generated from test/operations/*.graphql, `gql()`
// for text), shared fixtures (fixtures.ts), and automatic disposal (dispose.ts) of every server,
// database and WebSocket client it starts. Unit tests import only files.ts (no database, no app).
import type { TopicName } from "../../src/events/topics.ts";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import pg from "pg";
import type { Logger } from "pino";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, inject } from "vitest";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import WebSocket from "ws";
import { startApp, type App } from "../../src/app.ts";
import { loadConfig, type LogLevel } from "../../src/config.ts";
import { createLogger } from "../../src/server/logger.ts";
import { InStockProductsDocument, LogInDocument, SignUpDocument } from "../generated/graphql.ts";
import { disposeLater } from "./dispose.ts";
import { tempDir } from "./files.ts";
import { ADMIN_DATABASE_URL, REDIS_URL, databaseUrl } from "./env.ts";
import { ok, request, textOf } from "./http.ts";

export { REDIS_URL };
export { disposeLater } from "./dispose.ts";
export { tempDir } from "./files.ts";
export { codeOf, gql, ok, request, textOf, type GqlError, type GqlResponse } from "./http.ts";

export const DEMO = {
  customer: { email: "customer@cartwheel.test", password: "cartwheel-customer" },
  staff: { email: "staff@cartwheel.test", password: "cartwheel-staff" },
  admin: { email: "admin@cartwheel.test", password: "cartwheel-admin" },
} as const;

/** A fresh database cloned from the migrated, seeded template; dropped after the test (or file) at the latest. */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const template = inject("templateDatabase");
  const name = `cw_test_${template.slice("cw_tpl_".length)}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    // Cloning fails while another clone of the same template is in progress: retry, bounded.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        break;
      } catch (error) {
        if (attempt >= 50 || !/being accessed by other users/.test((error as Error).message)) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await admin.end();
  }
  const drop = disposeLater(async () => {
    const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.end();
  });
  return { url: databaseUrl(name), name, drop };
}

export interface TestServerOptions {
  databaseUrl: string;
  /** Redis key/channel prefix; instances that share it share events. Omit for in-process pub/sub. */
  redisPrefix?: string;
  /** Shared by instances that must accept each other's tokens. */
  dataDir: string;
  env?: Record<string, string>;
  /** The server's logger (default: silent); a test reading log lines passes one (see captureLog). */
  log?: Logger;
}

/** Starts the real server on 127.0.0.1, port 0; stopped after the test (or file) at the latest. */
export async function startTestServer(options: TestServerOptions): Promise<App> {
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: options.databaseUrl,
    DATA_DIR: options.dataDir,
    SEED_DEMO: "false",
    // Quiet also for servers a test starts with NODE_ENV=production (their default is info).
    LOG_LEVEL: "silent",
    // Tests sign up and log in many accounts from 127.0.0.1; the limits have tests of their own.
    SIGNUP_MAX_PER_ADDRESS: "100000",
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "100000",
    // No drain delay: nothing balances load in front of a test server.
    SHUTDOWN_DELAY: "0",
    ...(options.redisPrefix ? { REDIS_URL, REDIS_PREFIX: options.redisPrefix } : {}),
    ...options.env,
  });
  const app = await startApp(config, options.log);
  const key = options.redisPrefix ?? "";
  let set = running.get(key);
  if (!set) running.set(key, (set = new Set()));
  set.add(app);
  const stop = app.stop;
  app.stop = disposeLater(() => {
    set.delete(app);
    return stop();
  });
  return app;
}

/**
 * A real pino logger (the server's redaction included) whose JSON lines are kept in `lines`;
 * `waitFor` resolves with the first line matching, now or within `ms`.
 */
export function captureLog(level = "info") {
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  const raw: string[] = [];
  const stream = {
    write(chunk: string) {
      raw.push(chunk);
      const line = JSON.parse(chunk) as Record<string, unknown>;
      lines.push(line);
      for (const w of [...waiters]) if (w.match(line)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(line));
    },
  };
  const log = createLogger(level as LogLevel, stream);
  return {
    log,
    lines,
    /** Everything written, as text (to check that no secret appears anywhere). */
    text: () => raw.join(""),
    waitFor(match: (line: Record<string, unknown>) => boolean, ms = 5_000): Promise<Record<string, unknown>> {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms`)), ms);
        waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
  };
}

export async function logIn(url: string, account: { email: string; password: string }): Promise<string> {
  const res = await request(url, LogInDocument, account);
  if (!res.data?.logIn) throw new Error(`logIn failed: ${JSON.stringify(res.errors)}`);
  return res.data.logIn.accessToken;
}

/** A graphql-ws client (eager, no retries); disposed after the test (or file) at the latest. */
export function wsClient(wsUrl: string, token?: string, onClose?: (code: number) => void): Client {
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (event) => onClose?.((event as { code: number }).code) },
    onNonLazyError: () => {},
  });
  const dispose = client.dispose.bind(client);
  client.dispose = disposeLater(dispose);
  return client;
}

/** Subscribes with a generated document: its events are typed by it (`client.iterate`, printed). */
export function subscribe<R, V>(client: Client, document: TypedDocumentNode<R, V>, ...[variables]: Record<string, never> extends V ? [variables?: V] : [variables: V]) {
  return client.iterate<R>({ query: textOf(document), variables: (variables ?? {}) as Record<string, unknown> });
}

/** Resolves with the next value, or rejects after `ms`: never waits forever. */
export async function nextWithin<T>(iterator: AsyncIterator<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no event within ${ms} ms`)), ms);
  });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    if (result.done) throw new Error("subscription ended");
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** The servers this test process started, by Redis prefix ("" without Redis): who serves a channel. */
const running = new Map<string, Set<App>>();

/**
 * Subscriptions listening on `channel` (`<prefix><TOPIC>:<id>`, the prefix as given to the test
 * servers) summed over every server of this test process with that prefix.
 */
export function subscriberCount(channel: string): number {
  const match = /^(.*?)([A-Z_]+):([^:]+)$/.exec(channel);
  if (!match) throw new Error(`not a channel: ${channel}`);
  const [, prefix, topic, id] = match;
  let count = 0;
  for (const app of running.get(prefix!) ?? []) count += app.bus.listenerCount(topic as TopicName, id!);
  return count;
}

/**
 * Waits until `count` subscriptions listen on `channel` (see subscriberCount): the subscription
 * is really set up (on whichever instance) before the test makes its change. Bounded by `ms`.
 */
export async function waitForSubscribers(channel: string, count = 1, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (subscriberCount(channel) < count) {
    if (Date.now() > deadline) throw new Error(`no subscriber on ${channel} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A metric on the server's /metrics (`url`: its /graphql URL or its origin): the sum of the lines
 * of `name`, which may end inside its labels (`cartwheel_http_requests_total{route="/graphql"`);
 * NaN when there is none.
 */
export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${new URL(url).origin}/metrics`)).text();
  const lines = text.split("\n").filter((l) => l.startsWith(name) && (name.includes("{") || l[name.length] === " " || l[name.length] === "{"));
  return lines.length === 0 ? NaN : lines.reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** Waits (bounded) until the outbox of the database at `databaseUrl` is pruned past `position`. */
export async function waitForPruned(databaseUrl: string, position: number, ms = 15_000): Promise<void> {
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  try {
    const deadline = Date.now() + ms;
    for (;;) {
      const { rows } = await sql.query("SELECT pruned_through::float8 AS p FROM outbox_head");
      if (Number(rows[0].p) > position) return;
      if (Date.now() > deadline) throw new Error(`the outbox was not pruned past ${position} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await sql.end();
  }
}

export function uniquePrefix(): string {
  return `cwtest:${randomUUID().slice(0, 8)}:`;
}

/**
 * One server on a fresh clone of the seeded database for the whole test file, disposed after it.
 * Read `.app` / `.dataDir` inside tests (they are set in beforeAll).
 */
export function useTestServer(options: { redisPrefix?: string; env?: Record<string, string> } = {}) {
  const state = {} as { app: App; dataDir: string };
  let dispose: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const db = await createTestDatabase();
    const dir = tempDir();
    state.dataDir = dir.path;
    state.app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, ...options });
    dispose = async () => {
      await state.app.stop();
      await db.drop();
      dir.remove();
    };
  });
  afterAll(() => dispose?.());
  return state;
}

let signUps = 0;

/** A fresh CUSTOMER account: its access token and global user id. */
export async function signUp(url: string, name = "Test Customer"): Promise<{ token: string; userId: string; email: string }> {
  const email = `t${process.pid}-${Date.now().toString(36)}-${(signUps += 1)}-${randomUUID().slice(0, 6)}@example.test`;
  const res = await request(url, SignUpDocument, { input: { email, password: "correct horse battery", name } });
  if (!res.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(res.errors)}`);
  return { token: res.data.signUp.accessToken, userId: res.data.signUp.user.id, email };
}

/** The ids of the first `count` seeded products that are ACTIVE and in stock. */
export async function someProducts(url: string, count: number): Promise<{ id: string; name: string; stock: number; priceCents: number }[]> {
  const { products } = ok(await request(url, InStockProductsDocument));
  const nodes = products.edges.map(({ node }) => ({ ...node, priceCents: node.price.amountCents }));
  if (nodes.length < count) throw new Error(`only ${nodes.length} products in stock`);
  return nodes.slice(0, count);
}

/**
 * Two server instances on one fresh database, one Redis prefix and one signing key (shared
 * DATA_DIR): they act as one deployment behind a load balancer. Read `.a`, `.b`, `.prefix` inside tests.
 */
export function useInstancePair(env?: Record<string, string>) {
  const state = {} as { a: App; b: App; prefix: string };
  let dispose: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const db = await createTestDatabase();
    const dir = tempDir();
    state.prefix = uniquePrefix();
    const options = { databaseUrl: db.url, dataDir: dir.path, redisPrefix: state.prefix, ...(env ? { env } : {}) };
    state.a = await startTestServer(options);
    state.b = await startTestServer(options);
    dispose = async () => {
      await Promise.all([state.a.stop(), state.b.stop()]);
      await db.drop();
      dir.remove();
    };
  });
  afterAll(() => dispose?.());
  return state;
}

/**
 * One fresh database and data directory for the test file; `start(options)` starts a server on it
 * (as many as the file needs, with their own env or Redis prefix), and every one is stopped after
 * the file. Read `.url` / `.dataDir` inside tests.
 */
export function useDatabase() {
  const state = {} as { url: string; dataDir: string; start(options?: { env?: Record<string, string>; redisPrefix?: string }): Promise<App> };
  const started: App[] = [];
  let dispose: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const db = await createTestDatabase();
    const dir = tempDir();
    state.url = db.url;
    state.dataDir = dir.path;
    state.start = async (options = {}) => {
      const app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, ...options });
      started.push(app);
      return app;
    };
    dispose = async () => {
      await Promise.all(started.map((a) => a.stop()));
      await db.drop();
      dir.remove();
    };
  });
  afterAll(() => dispose?.());
  return state;
}

/** A fresh ES256 signing key (PKCS#8 PEM), for servers started with NODE_ENV=production. */
export function newSigningKey(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

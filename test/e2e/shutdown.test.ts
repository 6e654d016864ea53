import { randomUUID } from "node:crypto";
import http from "node:http";
import type { DocumentNode } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FirstProductStockDocument,
  FirstThreeProductIdsDocument,
  ProductCountDocument,
  ShutdownCatalogDocument,
  SignUpDocument,
  StockOnlyDocument,
  TypenameDocument,
} from "../generated/graphql.ts";
import { createTestDatabase, tempDir, textOf, wsClient, metricValue } from "../harness/index.ts";
import { startMain } from "../harness/process.ts";

// The real process on a real database gets SIGTERM with requests in flight, as Kubernetes sends
// it: readiness must turn 503 at once, nothing in flight may lose its answer, and the exit is 0.

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const dir = tempDir("cartwheel-shutdown-");
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  dir.remove();
});

/** What the test reads of an answer: the products of a products query, or the errors. */
type Body = { data?: { products: { edges: { node: { id: string } }[] } }; errors?: { message: string; extensions?: { code?: string } }[] };
type Answer = { status: number; connection: string | null; body: Body } | { error: string };

/** A POST of `document` through Node's fetch (undici: keep-alive, pooled connections); never throws. */
async function post(url: string, document: DocumentNode, variables: Record<string, unknown> = {}): Promise<Answer> {
  try {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: textOf(document), variables }) });
    return { status: res.status, connection: res.headers.get("connection"), body: (await res.json()) as Body };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}

/** A request through a node:http keep-alive agent, telling whether it reused a pooled socket. */
function agentGet(agent: http.Agent, url: string): Promise<{ status: number; reused: boolean; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, reused: req.reusedSocket, connection: res.headers.connection, body }));
    });
    req.on("error", reject);
  });
}

/** Starts a POST of `document` whose body is held back: the server has the request but cannot answer yet. */
function heldPost(url: string, document: DocumentNode) {
  const body = JSON.stringify({ query: textOf(document) });
  const half = Math.floor(body.length / 2);
  let req!: http.ClientRequest;
  const answer = new Promise<{ status: number; connection: string | undefined; body: Body }>((resolve, reject) => {
    req = http.request(url, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: JSON.parse(text) as Body }));
    });
    req.on("error", (error) => reject(error));
    req.write(body.slice(0, half));
  });
  return { answer, finish: () => req.end(body.slice(half)) };
}

const metric = (origin: string, name: string) => metricValue(origin, name);

describe("SIGTERM with requests in flight", () => {
  it("turns readiness 503, keeps serving for SHUTDOWN_DELAY, answers every request, closes WebSockets with 1001 and exits 0", async () => {
    const server = await startMain({ DATABASE_URL: db.url, DATA_DIR: dir.path, SHUTDOWN_DELAY: "3s", SIGNUP_MAX_PER_ADDRESS: "1000" }); // 25 sign-ups from one address exceed the default limit
    const { url, origin } = server;

    // A WebSocket with a live subscription, and a keep-alive socket already in the agent's pool.
    const closes: { code: number; reason: string }[] = [];
    const ws = wsClient(url.replace("http", "ws"));
    ws.on("closed", (event) => closes.push({ code: (event as { code: number }).code, reason: String((event as { reason: unknown }).reason) }));
    const subscribed = new Promise<void>((resolve) => ws.on("connected", () => resolve()));
    const first = await post(url, FirstProductStockDocument);
    const productId = "body" in first ? first.body.data!.products.edges[0]!.node.id : undefined;
    ws.subscribe({ query: textOf(StockOnlyDocument), variables: { productIds: [productId] } }, { next() {}, error() {}, complete() {} });
    await subscribed;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await agentGet(agent, `${origin}/health/live`)).status).toBe(200);
    expect(await post(url, TypenameDocument)).toMatchObject({ status: 200 }); // fetch's pool holds a socket now

    // The burst: slow-ish reads and argon2 sign-ups, plus one request whose body is held back.
    const graphqlBefore = await metric(origin, 'cartwheel_http_requests_total{route="/graphql"');
    const burst: Promise<Answer>[] = [];
    for (let i = 0; i < 25; i++) burst.push(post(url, ShutdownCatalogDocument));
    for (let i = 0; i < 25; i++) {
      burst.push(post(url, SignUpDocument, { input: { email: `drain-${randomUUID()}@example.test`, password: "correct horse battery", name: "Drain" } }));
    }
    const held = heldPost(url, FirstThreeProductIdsDocument);
    // Every one of them has reached the server (started = in flight + finished; the scrape counts itself).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const started = (await metric(origin, "cartwheel_http_requests_in_flight")) - 1 + (await metric(origin, 'cartwheel_http_requests_total{route="/graphql"')) - graphqlBefore;
      if (started >= burst.length + 1) break;
      if (Date.now() > deadline) throw new Error(`only ${started} of ${burst.length + 1} requests reached the server`);
      await new Promise((r) => setTimeout(r, 20));
    }

    server.child.kill("SIGTERM");
    // Readiness turns 503 as soon as the signal is handled (polled: stdout may reach this busy
    // process late). The delay is generous for the same reason: the checks below must reach the
    // server before it ends.
    let ready: { status: number; body: unknown };
    for (const deadline = Date.now() + 5_000; ; ) {
      const res = await fetch(`${origin}/health/ready`).catch((error: Error) => error);
      ready = res instanceof Error ? { status: 0, body: String(res.cause ?? res) } : { status: res.status, body: await res.json() };
      if (ready.status !== 200 || Date.now() > deadline) break;
    }
    expect(ready).toEqual({ status: 503, body: { status: "draining" } });
    // During the delay: still serving (had the listener closed, these would be refused), the
    // pooled keep-alive socket too; every response tells the client not to reuse its socket.
    const [live, query, reused] = await Promise.all([
      fetch(`${origin}/health/live`).then((r) => r.status),
      post(url, ProductCountDocument),
      agentGet(agent, `${origin}/health/live`),
    ]);
    expect(live).toBe(200);
    expect(query).toMatchObject({ status: 200, connection: "close" });
    expect(reused).toMatchObject({ status: 200, reused: true, connection: "close" });

    // Past the delay the listener is closed, with the held request still in flight.
    const stopping = await server.waitForLog((l) => String(l.msg).startsWith("stopping:"), 5_000);
    expect(stopping.inFlight).toBeGreaterThanOrEqual(1);
    held.finish();
    const late = await held.answer;
    expect(late.status).toBe(200);
    expect(late.connection).toBe("close");
    expect(late.body.data!.products.edges).toHaveLength(3);

    const answers = await Promise.all(burst);
    const failed = answers.filter((a) => "error" in a || a.status !== 200 || a.body.errors);
    expect(failed).toEqual([]);
    expect(await server.exited(30_000)).toBe(0);
    expect(closes).toEqual([{ code: 1001, reason: "server shutting down" }]);
    expect(server.stderr()).toBe("");
    agent.destroy();
    await ws.dispose();
  }, 120_000);

  it("cuts what is still running after SHUTDOWN_TIMEOUT and exits 1 with one log line", async () => {
    const server = await startMain({ DATABASE_URL: db.url, DATA_DIR: dir.path, SHUTDOWN_DELAY: "0", SHUTDOWN_TIMEOUT: "1s" });
    const held = heldPost(server.url, TypenameDocument);
    const deadline = Date.now() + 20_000;
    while ((await metric(server.origin, "cartwheel_http_requests_in_flight")) < 2) {
      if (Date.now() > deadline) throw new Error("the held request never reached the server");
      await new Promise((r) => setTimeout(r, 20));
    }
    server.child.kill("SIGTERM");
    await expect(held.answer).rejects.toThrow();
    expect(await server.exited(15_000)).toBe(1);
    const failures = server.logs().filter((l) => l.msg === "shutdown failed");
    expect(failures).toHaveLength(1);
    expect(failures[0]!.reason).toMatch(/SHUTDOWN_TIMEOUT .*1 request\(s\) cut off/);
    expect(server.stdout() + server.stderr()).not.toMatch(/\n\s+at /);
  }, 60_000);
});

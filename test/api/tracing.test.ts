// Tracing in the test process: the SDK starts (with an in-memory exporter in place of OTLP) before
// the app and its http, pg, ioredis and graphql modules are first imported, exactly as main.ts
// orders it; then real operations over HTTP and WebSocket, and the span trees they leave.
// Only these imports may be static: the harness and the app load the instrumented modules.
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { SpanKind } from "@opentelemetry/api";
import { pino } from "pino";
import { afterAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { startTracing } from "../../src/tracing/index.ts";

// Only its being set matters here (it turns tracing on in the config, and with it graphql-js);
// the spans go to the in-memory exporter.
const TRACING_ENV = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" };
const exporter = new InMemorySpanExporter();
const tracing = await startTracing(loadConfig(TRACING_ENV).tracing, {
  log: pino({ level: "silent" }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
afterAll(() => tracing?.shutdown());

const { DEMO, gql, logIn, nextWithin, request, signUp, someProducts, subscribe, textOf, uniquePrefix, useTestServer, waitForSubscribers, wsClient } = await import("../harness/index.ts");
const { TracedAddToCartDocument, TracedCartDocument, TracedContinuedDocument, TracedProductsDocument } = await import("../generated/graphql.ts");
const { keyOf } = await import("../../src/lib/ids.ts");
const prefix = uniquePrefix();
const server = useTestServer({ redisPrefix: prefix, env: TRACING_ENV });


/** Every attribute value of a span, as text: what a collector would store. */
const attributeText = (span: ReadableSpan) => JSON.stringify(span.attributes);
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/**
 * The spans of the trace whose server span answered /graphql with `operation` inside it,
 * once that server span has ended (it ends with the response, after the client read the body).
 */
async function traceOf(operation: string, ms = 5_000): Promise<{ root: ReadableSpan; spans: ReadableSpan[]; under(span: ReadableSpan, ancestor: ReadableSpan): boolean }> {
  const op = await spanNamed(operation, ms);
  const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === op.spanContext().traceId);
  const deadline = Date.now() + ms;
  while (!inTrace().some((s) => !parentOf(s))) {
    if (Date.now() > deadline) throw new Error(`the trace of "${operation}" has no ended root span within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const spans = inTrace();
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  const roots = spans.filter((s) => !parentOf(s));
  expect(roots.map((s) => s.kind)).toEqual([SpanKind.SERVER]);
  const under = (span: ReadableSpan, ancestor: ReadableSpan) => {
    for (let at = byId.get(parentOf(span) ?? ""); at; at = byId.get(parentOf(at) ?? "")) if (at === ancestor) return true;
    return false;
  };
  return { root: roots[0]!, spans, under };
}

/** Waits (bounded) for a finished span; SimpleSpanProcessor exports as each span ends. */
async function spanNamed(name: string, ms = 5_000): Promise<ReadableSpan> {
  const deadline = Date.now() + ms;
  for (;;) {
    const span = exporter.getFinishedSpans().find((s) => s.name === name);
    if (span) return span;
    if (Date.now() > deadline) throw new Error(`no span "${name}" within ${ms} ms: ${exporter.getFinishedSpans().map((s) => s.name).join(", ")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

it("gives a catalog query and a signed-in mutation one server span each, a graphql operation span under it and pg and redis spans under that", async () => {
  const token = await logIn(server.app.url, DEMO.customer);
  const [product] = await someProducts(server.app.url, 1);
  exporter.reset();

  // Anonymous: a public catalog read, which goes through the shared response cache in Redis.
  const products = await request(server.app.url, TracedProductsDocument, { first: 3 });
  expect(products.errors).toBeUndefined();
  const added = await request(server.app.url, TracedAddToCartDocument, { p: product!.id, q: 2 }, token);
  expect(added.errors).toBeUndefined();

  for (const [name, type, field, cached] of [
    ["query TracedProducts", "query", "products", true],
    ["mutation TracedAddToCart", "mutation", "addToCart", false],
  ] as const) {
    const { root, spans, under } = await traceOf(name);
    expect(root.name).toBe("POST");
    expect(root.attributes).toMatchObject({ "http.request.method": "POST", "url.path": "/graphql", "http.response.status_code": 200 });
    const operation = spans.find((s) => s.name === name)!;
    expect(parentOf(operation)).toBe(idOf(root));
    expect(operation.attributes).toMatchObject({ "graphql.operation.type": type, "graphql.operation.name": name.split(" ")[1] });
    // The resolver that reaches the database has its own span, and the statements are under it.
    const resolver = spans.find((s) => s.name === `graphql.resolve ${field}`);
    expect(resolver && under(resolver, operation), `a span for the ${field} resolver under the operation`).toBe(true);
    // Statements before the operation (the bearer token's session) sit under the server span;
    // those during it under the resolver that sent them.
    const statements = spans.filter((s) => s.name.startsWith("pg.query"));
    const executing = statements.filter((s) => under(s, operation));
    expect(executing.length, `pg spans under ${name}`).toBeGreaterThan(0);
    for (const statement of executing) expect(under(statement, resolver!), `${statement.name} under the ${field} resolver`).toBe(true);
    for (const statement of statements) {
      expect(under(statement, root)).toBe(true);
      expect(statement.attributes["db.query.text"]).toEqual(expect.stringMatching(/^\s*(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|WITH)/i));
      expect(Object.keys(statement.attributes).filter((k) => k.includes("parameter") || k.includes("values"))).toEqual([]);
    }
    // Redis (the response cache's lookup and store) is traced with the command name only.
    // The store may finish after the response (and its server span) did.
    if (cached) await spanNamed("set");
    const redis = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId && s.instrumentationScope.name.endsWith("ioredis"));
    if (cached) expect(redis.map((s) => s.name), `ioredis spans of ${name}`).toEqual(expect.arrayContaining(["get", "set"]));
    for (const command of redis) expect(under(command, root)).toBe(true);
    for (const command of redis) expect(command.attributes["db.query.text"]).toBe(command.name);
    // No secret and no bound value anywhere in the trace: not the token, not the variables.
    for (const span of spans) {
      expect(attributeText(span)).not.toContain(token);
      expect(attributeText(span)).not.toContain(product!.id);
    }
  }
});

it("keeps the password of a log-in out of every span, and literal values out of the recorded document", async () => {
  exporter.reset();
  // Inline text on purpose: the literals are what the instrumentation must mask (graphql.source below).
  const res = await gql<{ logIn: { accessToken: string } }>(server.app.url, `mutation TracedLogIn { logIn(email: "${DEMO.customer.email}", password: "${DEMO.customer.password}") { accessToken } }`);
  expect(res.errors).toBeUndefined();
  const { spans } = await traceOf("mutation TracedLogIn");
  const texts = spans.map(attributeText).join("\n");
  expect(texts).not.toContain(DEMO.customer.password);
  expect(texts).not.toContain(DEMO.customer.email);
  expect(texts).not.toContain(res.data!.logIn.accessToken);
  // The instrumentation's own masking: each literal becomes "*".
  expect(spans.find((s) => s.name === "mutation TracedLogIn")!.attributes["graphql.source"]).toMatch(/^mutation TracedLogIn \{ logIn\(email: "\*"\s+password: "\*"\) \{ accessToken \} \}$/);
});

it("redacts the document and variables of a GET from the server span, records the request id, and traces no probe or scrape", async () => {
  exporter.reset();
  for (const path of ["/health/live", "/health/ready", "/metrics"]) expect((await fetch(new URL(path, server.app.url))).status).toBe(200);
  const url = new URL(server.app.url);
  url.searchParams.set("query", `query TracedGet($id: ID!) { node(id: $id) { id } }`);
  url.searchParams.set("variables", JSON.stringify({ id: "secret-looking-variable" }));
  url.searchParams.set("operationName", "TracedGet");
  const res = await fetch(url, { headers: { "apollo-require-preflight": "true", "x-request-id": "trace-me-42" } });
  expect(res.status).toBeLessThan(500);
  await res.text();
  const { root, spans } = await traceOf("query TracedGet");
  expect(root.name).toBe("GET");
  expect(root.attributes["url.path"]).toBe("/graphql");
  const query = String(root.attributes["url.query"]);
  expect(query).toContain("operationName=TracedGet");
  expect(query).not.toContain("secret-looking-variable");
  expect(query).not.toContain("node");
  // The id the server answered with (checked, or made): never the caller's raw header.
  expect(root.attributes["http.response.header.x-request-id"]).toEqual(["trace-me-42"]);
  expect(root.attributes["http.request.header.x-request-id"]).toBeUndefined();
  for (const span of spans) expect(attributeText(span)).not.toContain("secret-looking-variable");
  // Every request before this one was a probe or a scrape: none of them left a span.
  expect(exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER).map((s) => s.attributes["url.path"])).toEqual(["/graphql"]);
});

it("continues the caller's trace when the request carries a W3C traceparent", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpan = "00f067aa0ba902b7";
  const res = await fetch(server.app.url, {
    method: "POST",
    headers: { "content-type": "application/json", traceparent: `00-${traceId}-${callerSpan}-01` },
    body: JSON.stringify({ query: textOf(TracedContinuedDocument) }),
  });
  expect(res.status).toBe(200);
  await res.text();
  const operation = await spanNamed("query TracedContinued");
  expect(operation.spanContext().traceId).toBe(traceId);
  const deadline = Date.now() + 5_000;
  let serverSpan: ReadableSpan | undefined;
  while (!(serverSpan = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER && s.spanContext().traceId === traceId))) {
    if (Date.now() > deadline) throw new Error("no server span in the caller's trace within 5 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(idOf(serverSpan)).toBe(parentOf(operation));
  expect(serverSpan.parentSpanContext).toMatchObject({ spanId: callerSpan, isRemote: true });
});

it("gives each subscription event delivered over the WebSocket a trace of its own: the operation, its resolvers and their statements", async () => {
  const user = await signUp(server.app.url);
  const [product] = await someProducts(server.app.url, 1);
  const client = wsClient(server.app.wsUrl, user.token);
  const events = subscribe(client, TracedCartDocument);
  try {
    await waitForSubscribers(`${prefix}CART_UPDATED:${keyOf(user.userId, "User")}`);
    exporter.reset();
    const added = await request(server.app.url, TracedAddToCartDocument, { p: product!.id, q: 1 }, user.token);
    expect(added.errors).toBeUndefined();
    await nextWithin(events);
    const operation = await spanNamed("subscription TracedCart");
    // Started by the event off Redis, not by a request: a root span, in a trace apart from the mutation's.
    expect(parentOf(operation)).toBeUndefined();
    expect(operation.attributes).toMatchObject({ "graphql.operation.type": "subscription", "graphql.operation.name": "TracedCart" });
    const mutation = await spanNamed("mutation TracedAddToCart");
    expect(mutation.spanContext().traceId).not.toBe(operation.spanContext().traceId);
    // The mutation's trace holds the publish (after commit, with the command name only).
    await spanNamed("publish");
    const publish = exporter.getFinishedSpans().filter((s) => s.name === "publish" && s.spanContext().traceId === mutation.spanContext().traceId);
    expect(publish.map((s) => s.attributes["db.query.text"])).toEqual(["publish"]);
    // The subscriber re-reads the product through its loaders: those statements are in the event's trace.
    await spanNamed("graphql.resolve cartUpdated.items.*.product");
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === operation.spanContext().traceId);
    const resolver = spans.find((s) => s.name === "graphql.resolve cartUpdated.items.*.product")!;
    expect(parentOf(resolver) && spans.some((s) => idOf(s) === parentOf(resolver))).toBe(true);
    const statements = spans.filter((s) => s.name.startsWith("pg.query"));
    expect(statements.length).toBeGreaterThan(0);
    for (const span of spans) expect(attributeText(span)).not.toContain(user.token);
  } finally {
    await events.return?.();
    await client.dispose();
  }
});

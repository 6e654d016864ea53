// Tracing in the test process: the SDK starts (with an in-memory exporter in place of OTLP) before
// the app and its http, pg, ioredis and graphql modules are first imported, exactly as main.ts
// orders it; then real operations over HTTP and WebSocket, and the span trees they leave.
// Only these imports may be static: the harness and the app load the instrumented modules.
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
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

const { DEMO, gql, logIn, nextWithin, someProducts, uniquePrefix, useTestServer, waitForSubscribers, wsClient } = await import("../harness/index.ts");
const server = useTestServer({ redisPrefix: uniquePrefix(), env: TRACING_ENV });

const PRODUCTS = `query TracedProducts($first: Int!) { products(first: $first) { edges { node { id name category { name } stock } } } }`;
const ADD_TO_CART = `mutation TracedAddToCart($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { id itemCount } }`;

/** Every attribute value of a span, as text: what a collector would store. */
const attributeText = (span: ReadableSpan) => JSON.stringify(span.attributes);
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** The spans of the trace whose server span answered POST /graphql with `operation` inside it. */
function traceOf(operation: string): { root: ReadableSpan; spans: ReadableSpan[]; under(span: ReadableSpan, ancestor: ReadableSpan): boolean } {
  const all = exporter.getFinishedSpans();
  const op = all.find((s) => s.name === operation);
  if (!op) throw new Error(`no span "${operation}" among ${all.map((s) => s.name).join(", ")}`);
  const spans = all.filter((s) => s.spanContext().traceId === op.spanContext().traceId);
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  const roots = spans.filter((s) => !parentOf(s));
  expect(roots.map((s) => s.name)).toEqual(["POST"]);
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
  const products = await gql(server.app.url, PRODUCTS, { first: 3 });
  expect(products.errors).toBeUndefined();
  const added = await gql(server.app.url, ADD_TO_CART, { p: product!.id, q: 2 }, token);
  expect(added.errors).toBeUndefined();
  // The server span ends as the response does, after the body the client has already read.
  await spanNamed("POST");

  for (const [name, type, field, cached] of [
    ["query TracedProducts", "query", "products", true],
    ["mutation TracedAddToCart", "mutation", "addToCart", false],
  ] as const) {
    const { root, spans, under } = traceOf(name);
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
    const redis = spans.filter((s) => s.instrumentationScope.name.endsWith("ioredis"));
    if (cached) expect(redis.map((s) => s.name).sort(), `ioredis spans of ${name}`).toEqual(expect.arrayContaining(["get", "set"]));
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
  const res = await gql(server.app.url, `mutation TracedLogIn { logIn(email: "${DEMO.customer.email}", password: "${DEMO.customer.password}") { accessToken } }`);
  expect(res.errors).toBeUndefined();
  await spanNamed("POST");
  const { spans } = traceOf("mutation TracedLogIn");
  const texts = spans.map(attributeText).join("\n");
  expect(texts).not.toContain(DEMO.customer.password);
  expect(texts).not.toContain(DEMO.customer.email);
  expect(texts).not.toContain(res.data.logIn.accessToken);
  // The instrumentation's own masking: each literal becomes "*".
  expect(spans.find((s) => s.name === "mutation TracedLogIn")!.attributes["graphql.source"]).toMatch(/^mutation TracedLogIn \{ logIn\(email: "\*"\s+password: "\*"\) \{ accessToken \} \}$/);
});

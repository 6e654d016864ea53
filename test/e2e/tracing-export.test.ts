// The compiled server (`node dist/src/main.js`, built as `npm run build` builds it) exports its
// spans over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT: a collector stand-in on a free port
// receives POST /v1/traces with the span tree of one query. Then the collector goes away: the
// server keeps answering and still stops cleanly. The build goes to its own outDir (see build.test.ts).
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { afterAll, expect, it } from "vitest";
import { CategoryListDocument, TracedProductsDocument } from "../generated/graphql.ts";
import { REDIS_URL, createTestDatabase, request, tempDir, uniquePrefix } from "../harness/index.ts";
import { ROOT, runNode, startServerProcess } from "../harness/processes.ts";

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}
interface Export {
  contentType: string | undefined;
  resource: Record<string, unknown>;
  spans: ExportedSpan[];
}

/** OTLP's SpanKind in JSON: 2 is SERVER. */
const SERVER = 2;

mkdirSync(join(ROOT, "test/artifacts"), { recursive: true });
const outDir = mkdtempSync(join(ROOT, "test/artifacts/build-otel-"));
const data = tempDir("cartwheel-otel-");
const leftovers: ChildProcess[] = [];
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const child of leftovers) child.kill("SIGKILL");
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(outDir, { recursive: true, force: true });
  data.remove();
});

/** A collector stand-in: keeps every OTLP/HTTP JSON trace export it is sent, and tells waiters. */
function collector(): { server: Server; exports: Export[]; waitFor(match: (spans: ExportedSpan[]) => boolean, ms: number): Promise<ExportedSpan[]> } {
  const exports: Export[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        const parsed = JSON.parse(body) as { resourceSpans: { resource: { attributes: ExportedSpan["attributes"] }; scopeSpans: { spans: ExportedSpan[] }[] }[] };
        for (const rs of parsed.resourceSpans) {
          exports.push({
            contentType: req.headers["content-type"],
            resource: Object.fromEntries(rs.resource.attributes.map((a) => [a.key, Object.values(a.value)[0]])),
            spans: rs.scopeSpans.flatMap((s) => s.spans),
          });
        }
        waiters.forEach((w) => w());
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  const all = () => exports.flatMap((e) => e.spans);
  return {
    server,
    exports,
    waitFor(match, ms) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!match(all())) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(all());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such export within ${ms} ms; spans so far: ${all().map((s) => s.name).join(", ")}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

const attr = (span: ExportedSpan, key: string) => {
  const found = span.attributes.find((a) => a.key === key);
  return found && Object.values(found.value)[0];
};

it("exports the span tree of a query to the OTLP endpoint, and keeps serving and stops cleanly once the collector is gone", async () => {
  const built = await runNode([join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", relative(ROOT, outDir)], process.env, 120_000);
  expect(built, built.stdout + built.stderr).toMatchObject({ code: 0 });

  const otlp = collector();
  await new Promise<void>((resolve) => otlp.server.listen(0, "127.0.0.1", resolve));
  const closeCollector = () => new Promise<void>((resolve) => otlp.server.close(() => resolve()));
  let collectorOpen = true;
  cleanups.push(() => collectorOpen && closeCollector());
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());

  const server = await startServerProcess(
    [join(outDir, "src/main.js")],
    {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix(),
      DATA_DIR: data.path,
      SEED_DEMO: "false",
      SHUTDOWN_DELAY: "0",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.server.address() as AddressInfo).port}`,
      // JSON so that this test can read what it is sent; the SDK's default is http/protobuf.
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    },
    leftovers,
  );
  try {
    expect(server.output()).toMatch(/"msg":"tracing on"/);
    const products = await request(server.url, TracedProductsDocument, { first: 2 });
    expect(products.errors).toBeUndefined();

    const hasTree = (spans: ExportedSpan[]) => {
      const operation = spans.find((s) => s.name === "query TracedProducts");
      const trace = operation ? spans.filter((s) => s.traceId === operation.traceId) : [];
      return trace.some((s) => s.kind === SERVER && !s.parentSpanId) && trace.some((s) => s.name.startsWith("pg.query")) && trace.some((s) => s.name === "get");
    };
    const spans = await otlp.waitFor(hasTree, 20_000);
    const operation = spans.find((s) => s.name === "query TracedProducts")!;
    const trace = spans.filter((s) => s.traceId === operation.traceId);
    const root = trace.find((s) => s.kind === SERVER && !s.parentSpanId)!;
    expect([root.name, attr(root, "url.path")]).toEqual(["POST", "/graphql"]);
    expect(operation.parentSpanId).toBe(root.spanId);
    expect(attr(operation, "graphql.operation.name")).toBe("TracedProducts");
    // The statement is under the products resolver, under the operation.
    const resolver = trace.find((s) => s.name === "graphql.resolve products")!;
    expect(resolver.parentSpanId).toBe(operation.spanId);
    const statement = trace.find((s) => s.name.startsWith("pg.query"))!;
    expect(statement.parentSpanId).toBe(resolver.spanId);
    expect(attr(statement, "db.query.text")).toMatch(/^SELECT /);
    expect(otlp.exports[0]).toMatchObject({ contentType: "application/json", resource: { "service.name": "cartwheel" } });

    // The collector goes away: exports fail (logged, dropped), requests do not.
    collectorOpen = false;
    await closeCollector();
    const again = await request(server.url, CategoryListDocument);
    expect(again.errors).toBeUndefined();
    // The failed export is a warning in the server's own log (pino JSON on stdout).
    const deadline = Date.now() + 15_000;
    while (!/"level":40,[^\n]*"msg":"opentelemetry: /.test(server.output())) {
      if (Date.now() > deadline) throw new Error(`no export warning within 15 s:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    // The drain, then at most FLUSH_TIMEOUT_MS of flushing to a collector that is not there.
    expect(await server.stop("SIGTERM"), server.output()).toBe(0);
  }
  expect(server.output()).not.toMatch(/unhandled promise rejection/);
}, 240_000);

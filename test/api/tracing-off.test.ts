// Tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset), the default: the server serves with no part of
// OpenTelemetry's SDK loaded and no tracer provider registered. Its own file, so its own process:
// test/api/tracing.test.ts starts the SDK in its process.
import { createRequire } from "node:module";
import { trace } from "@opentelemetry/api";
import { pino } from "pino";
import { expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { startTracing } from "../../src/tracing/index.ts";
import { TracedProductsDocument } from "../generated/graphql.ts";
import { request, useTestServer } from "../harness/index.ts";

const server = useTestServer();

/** Files of the CommonJS module cache, where Node also keeps CommonJS packages that ES modules import. */
const loadedFiles = () => Object.keys(createRequire(import.meta.url).cache);
const SDK_PARTS = /node_modules\/(@opentelemetry\/(sdk-|instrumentation|exporter-|otlp-|resources|context-async-hooks|propagator)|require-in-the-middle|import-in-the-middle)/;

it("serves with nothing of the SDK loaded and no tracer provider registered", async () => {
  const config = loadConfig({});
  expect(config.tracing).toEqual({ endpoint: undefined, serviceName: "cartwheel" });
  expect(await startTracing(config.tracing, { log: pino({ level: "silent" }) })).toBeUndefined();
  const products = await request(server.app.url, TracedProductsDocument, { first: 2 });
  expect(products.errors).toBeUndefined();

  const files = loadedFiles();
  // The cache does hold the packages the app imported: an empty list would prove nothing.
  expect(files.some((f) => f.includes("node_modules/pg/"))).toBe(true);
  expect(files.filter((f) => SDK_PARTS.test(f))).toEqual([]);
  // The API answers with its no-op provider: spans cost a function call and record nothing.
  const provider = trace.getTracerProvider() as unknown as { getDelegate(): object };
  expect(provider.getDelegate().constructor.name).toBe("NoopTracerProvider");
  expect(trace.getTracer("probe").startSpan("probe").isRecording()).toBe(false);
});

it("turns tracing on with the endpoint (and graphql-js as the default executor then), off with OTEL_SDK_DISABLED", () => {
  expect(loadConfig({}).graphqlExecutor.kind).toBe("jit");
  const on = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SERVICE_NAME: "shop-eu" });
  expect(on.tracing).toEqual({ endpoint: "http://collector:4318", serviceName: "shop-eu" });
  // The graphql instrumentation hooks graphql-js's execute; an explicit choice is kept.
  expect(on.graphqlExecutor.kind).toBe("graphql-js");
  expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", GRAPHQL_EXECUTOR: "jit" }).graphqlExecutor.kind).toBe("jit");
  expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }).tracing.endpoint).toBeUndefined();
  expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://collector" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must use http: or https:/);
});

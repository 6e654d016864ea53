// The only file that imports OpenTelemetry's SDK and instrumentations. It is imported (dynamically,
// by ./index.ts) only when tracing is on, and before the modules it patches are loaded.
import type { IncomingMessage } from "node:http";
import { diag, DiagLogLevel } from "@opentelemetry/api";
import { GraphQLInstrumentation } from "@opentelemetry/instrumentation-graphql";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { NodeSDK } from "@opentelemetry/sdk-node";
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "pino";

/** Probes and scrapes: frequent, and nothing to trace. */
const UNTRACED_PATHS = ["/health/live", "/health/ready", "/metrics"];

/**
 * GET /graphql carries the document, its variables (which may hold anything a client sends) and
 * extensions in the query string: redacted from url.query of server spans. The document is on
 * the graphql spans instead, with its literal values replaced by "*".
 */
const REDACTED_QUERY_PARAMS = ["query", "variables", "extensions"];

export interface SdkOptions {
  serviceName: string;
  /** Replace the OTLP exporter the SDK builds from OTEL_* variables (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[] | undefined;
  log: Logger;
}

/** Starts the NodeSDK with the http, graphql, pg and ioredis instrumentations, configured to record no values. */
export function startSdk(options: SdkOptions): NodeSDK {
  // Export failures (collector down, refused) surface as warnings in our log, not on stderr;
  // the SDK drops the spans and carries on (a full queue drops new spans, never blocks a request).
  diag.setLogger(
    {
      error: (message, ...args) => options.log.warn({ otel: args.map(String) }, `opentelemetry: ${message}`),
      warn: (message, ...args) => options.log.warn({ otel: args.map(String) }, `opentelemetry: ${message}`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    // Traces only: metrics stay on /metrics (prom-client) and logs on stdout (pino).
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => UNTRACED_PATHS.includes((req.url ?? "").split("?")[0]!),
        redactedQueryParamsServer: REDACTED_QUERY_PARAMS,
        // The request id ties a trace to its log lines. The response's only: the server checked it
        // (bounded, one token) or made it; the request's header is whatever a caller sent.
        headersToSpanAttributes: { server: { responseHeaders: ["x-request-id"] } },
      }),
      new GraphQLInstrumentation({
        // Literal values in the document become "*"; variables are never recorded.
        allowValues: false,
        // Spans for resolvers that do work (load, query); not for each property read.
        ignoreTrivialResolveSpans: true,
        // One span per field of a list, not one per item.
        mergeItems: true,
      }),
      new PgInstrumentation({
        // db.statement is the parameterised text ($1, $2...); bound values are never attached.
        enhancedDatabaseReporting: false,
        // Outbox relay polls and pool upkeep outside any request would each be a trace of their own.
        requireParentSpan: true,
      }),
      new IORedisInstrumentation({
        requireParentSpan: true,
        // The command only: keys and arguments may hold e-mail addresses, tokens or cached answers.
        dbStatementSerializer: (command: string) => command,
      }),
    ],
  });
  sdk.start();
  return sdk;
}

// OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. This file imports nothing
// of OpenTelemetry: with tracing off the SDK is never loaded. With it on, startTracing must run
// before http, pg, ioredis and graphql are first imported (main.ts imports the app after it).
import { createRequire } from "node:module";
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "pino";
import type { Config } from "../config.ts";

/** How long shutdown waits for the last spans to reach the collector before it gives up on them. */
export const FLUSH_TIMEOUT_MS = 3_000;

export interface Tracing {
  /** Exports the spans still queued and stops the SDK; resolves (never rejects) within FLUSH_TIMEOUT_MS. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  log: Logger;
  /**
   * Span processors instead of the OTLP exporter (tests pass an in-memory exporter's); tracing is
   * then on whatever the endpoint says. Default: the SDK's exporter, built from OTEL_* variables.
   */
  spanProcessors?: SpanProcessor[];
}

/**
 * The instrumented modules. All are CommonJS (node:http's Server.prototype is shared with its ES
 * module view): required once right after the SDK starts, require-in-the-middle patches the very
 * objects (prototypes, exports) that the app's later `import`s receive. No ES loader hook is
 * needed, and it works alike under node (dist/), tsx and vitest, which imports packages by file
 * URL (import-in-the-middle's hook matched none of them there).
 */
const INSTRUMENTED = ["node:http", "node:https", "pg", "ioredis", "graphql"];

/**
 * Starts tracing when `config.endpoint` is set (or span processors are given); resolves with
 * undefined, having loaded nothing, otherwise. Must run before the app imports the instrumented
 * modules (main.ts imports the app after it): one loaded earlier stays unpatched. Throws only when
 * the SDK cannot load (a broken install), and then the start fails.
 */
export async function startTracing(config: Config["tracing"], options: TracingOptions): Promise<Tracing | undefined> {
  if (!config.endpoint && !options.spanProcessors) return undefined;
  const { startSdk } = await import("./sdk.ts");
  const sdk = startSdk({ serviceName: config.serviceName, spanProcessors: options.spanProcessors, log: options.log });
  const require = createRequire(import.meta.url);
  for (const name of INSTRUMENTED) require(name);
  return {
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          options.log.warn({ timeoutMs: FLUSH_TIMEOUT_MS }, "tracing: spans not exported in time were dropped");
          resolve();
        }, FLUSH_TIMEOUT_MS);
      });
      const flushed = sdk.shutdown().catch((error: unknown) => options.log.warn({ err: (error as Error).message }, "tracing: shutdown failed"));
      await Promise.race([flushed, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import { formatError } from "../graphql/errors.ts";

type Formatted = Parameters<typeof formatError>[0];

/** How every transport answers and logs errors: unexpected ones are logged once and masked with a request id. */
export interface ErrorReporting {
  /** Logs an unexpected error once (later calls with the same error object log nothing). */
  reportUnexpected(error: unknown, requestId: string | undefined): void;
  /** WebSocket, SSE and fan-out: the caller names the operation's request id (default: a fresh one, for a shared execution). */
  format(formatted: Formatted, original: unknown, requestId?: string): Formatted;
  /**
   * Apollo's formatError, which sees no context: requestReportPlugin logs an operation's error
   * with its request id first and adds the id to the answer; what is left here failed outside an operation.
   */
  formatHttp(formatted: Formatted, original: unknown): Formatted;
}

export function errorReporting(config: Config, log: Logger): ErrorReporting {
  // Every unexpected error is logged once, with the id its masked INTERNAL_SERVER_ERROR carries.
  const reported = new WeakSet<object>();
  const reportUnexpected = (error: unknown, requestId: string | undefined) => {
    if (typeof error === "object" && error !== null) {
      if (reported.has(error)) return;
      reported.add(error);
    }
    log.error({ err: error, requestId }, "unexpected error");
  };
  const options = { hideSuggestions: config.hideSchemaSuggestions };
  return {
    reportUnexpected,
    format: (formatted, original, requestId = randomUUID()) =>
      formatError(formatted, original, (error) => (reportUnexpected(error, requestId), requestId), options),
    formatHttp: (formatted, original) => formatError(formatted, original, (error) => (reportUnexpected(error, undefined), undefined), options),
  };
}

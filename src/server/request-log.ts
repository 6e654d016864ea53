import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import type { Logger } from "pino";
import type { Context, OperationReport } from "../graphql/context.ts";
import type { Metrics } from "./metrics.ts";

/** The header a request id comes in and goes out in. */
export const REQUEST_ID_HEADER = "x-request-id";

/** The longest request id taken from a caller; a longer (or odd) one is replaced by a fresh one. */
export const MAX_REQUEST_ID_LENGTH = 128;

/** What proxies and tracers put in x-request-id (UUIDs, hex, base64, W3C-ish ids), nothing that could forge a log line. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]+$/;

/**
 * The caller's x-request-id when it is one printable token of at most MAX_REQUEST_ID_LENGTH
 * characters (a load balancer's or client's id, so their logs and ours match), a new UUID otherwise.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === "string" && header.length <= MAX_REQUEST_ID_LENGTH && REQUEST_ID.test(header) ? header : randomUUID();
}

const exchanges = new WeakMap<IncomingMessage, Exchange>();

/** The exchange createHttpHandler opened for `req` (so a refusal anywhere in server/ is counted and logged with it). */
export function exchangeOf(req: IncomingMessage | undefined): Exchange | undefined {
  return req && exchanges.get(req);
}

/** Opens the access-log record of `req` (createHttpHandler, first thing): its request id is taken or made here, once. */
export function openExchange(req: IncomingMessage, route: string, started: number): Exchange {
  const exchange: Exchange = { requestId: requestIdFrom(req.headers[REQUEST_ID_HEADER]), route, started };
  exchanges.set(req, exchange);
  return exchange;
}

/** The id of `req` (its exchange's, so the context, the header and the log agree). */
export function requestIdOf(req: IncomingMessage): string {
  return exchangeOf(req)?.requestId ?? openExchange(req, "other", performance.now()).requestId;
}

/** Records the context built for `req` (GraphQL over HTTP and SSE), so its log line can name the viewer and the operation. */
export function noteContext(req: IncomingMessage, context: Promise<Context>): Promise<Context> {
  const exchange = exchangeOf(req);
  if (exchange) exchange.context = context;
  return context;
}

/** One HTTP request as the access log and the latency histogram see it. */
export interface Exchange {
  readonly requestId: string;
  /** The route label (a known path, "explorer", or "other"). */
  route: string;
  /** performance.now() when the handler took the request. */
  readonly started: number;
  /** The code of an answer given before Apollo ran (limits, persisted queries, body), when there was one. */
  refused?: string | undefined;
  /** Answered from the shared response cache before Apollo: the operation name it was asked for (null: none). */
  cached?: { operationName: string | null } | undefined;
  /** The operation's context, once one is being built (GraphQL over HTTP and SSE). */
  context?: Promise<Context> | undefined;
}

/** Routes whose requests are logged at debug: probes and scrapes every few seconds would drown the rest. */
const QUIET_ROUTES = new Set(["/health/live", "/health/ready", "/metrics", "explorer"]);

/** Error codes of a response's errors (at most 20: enough to read, bounded for the log). */
export function codesOf(errors: readonly GraphQLFormattedError[] | undefined): string[] | undefined {
  if (!errors?.length) return undefined;
  return errors.slice(0, 20).map((e) => String(e.extensions?.code ?? "INTERNAL_SERVER_ERROR"));
}

/**
 * Operation names that become metric labels: those of the persisted-documents manifests (ours and
 * the partners'); any other name is counted as "(other)" and an unnamed one as "(anonymous)", so
 * a caller cannot grow /metrics without bound.
 */
export class OperationNames {
  constructor(private readonly known: ReadonlySet<string>) {}

  label(name: string | undefined): string {
    if (!name) return "(anonymous)";
    return this.known.has(name) ? name : "(other)";
  }
}

/**
 * Writes one line per HTTP request ("request") and per WebSocket operation ("operation"), and
 * feeds the latency histogram and the error counter. Never throws: logging must not fail a request.
 */
export class RequestLog {
  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly names: OperationNames,
    /** The caller's address (TRUST_PROXY applied) for requests that never got a context. */
    private readonly addressOf: (req: IncomingMessage) => string | undefined = (req) => req.socket.remoteAddress,
  ) {}

  /** Call when the response has finished or the connection closed before it did. */
  http(exchange: Exchange, req: IncomingMessage, res: ServerResponse): void {
    const durationMs = performance.now() - exchange.started;
    const write = (context: Context | undefined, failed?: string) => {
      try {
        this.writeHttp(exchange, req, res, durationMs, context, failed);
      } catch {
        // A log line must never fail a request, nor become an unhandled rejection.
      }
    };
    const { context } = exchange;
    if (!context) return write(undefined);
    context.then(
      (built) => write(built),
      // A context that could not be built is answered with its error (a bad token, or masked).
      (error: unknown) => write(undefined, error instanceof GraphQLError ? String(error.extensions.code ?? "INTERNAL_SERVER_ERROR") : "INTERNAL_SERVER_ERROR"),
    );
  }

  private writeHttp(exchange: Exchange, req: IncomingMessage, res: ServerResponse, durationMs: number, context: Context | undefined, failed: string | undefined): void {
    const cached = exchange.cached && { type: "query", name: exchange.cached.operationName ?? undefined };
    const report = context?.report.type ? context.report : (cached ?? context?.report);
    const transport = exchange.route === "/graphql/stream" ? "sse" : "http";
    // An operation's own errors were counted as they were answered (noteErrors); a refusal before any operation is counted here.
    const before = exchange.refused ?? failed;
    if (before && !context?.report.errorCodes) this.metrics.graphqlErrors.inc({ code: before, transport });
    const errors = context?.report.errorCodes ?? (before ? [before] : undefined);
    if (report?.type === "query" || report?.type === "mutation") {
      this.metrics.operationDuration.observe({ type: report.type, name: this.names.label(report.name), transport }, durationMs / 1000);
    }
    const level = QUIET_ROUTES.has(exchange.route) ? "debug" : res.statusCode >= 500 ? "error" : "info";
    if (!this.log.isLevelEnabled(level)) return;
    this.log[level](
      {
        requestId: exchange.requestId,
        method: req.method,
        route: exchange.route,
        status: res.statusCode,
        durationMs: Math.round(durationMs * 10) / 10,
        ...(report?.type && { operation: { type: report.type, name: report.name ?? null } }),
        ...(errors && { errors }),
        ...(exchange.cached && { cached: true }),
        ...(!res.writableFinished && { aborted: true }),
        ...(context?.viewer && { userId: context.viewer.userId }),
        ...(context?.partnerId && { partner: context.partnerId }),
        clientAddress: context?.clientAddress ?? this.addressOf(req),
      },
      "request",
    );
  }

  /** One WebSocket operation that ended (completed, failed, or its socket closed). */
  operation(entry: OperationEnd): void {
    try {
      this.writeOperation(entry);
    } catch {
      // A log line must never fail an operation.
    }
  }

  private writeOperation(entry: OperationEnd): void {
    const { context } = entry;
    const report: OperationReport | undefined = context?.report;
    const durationMs = performance.now() - entry.startedAt;
    if (report?.type === "query" || report?.type === "mutation") {
      this.metrics.operationDuration.observe({ type: report.type, name: this.names.label(report.name), transport: "ws" }, durationMs / 1000);
    }
    if (!this.log.isLevelEnabled("info")) return;
    this.log.info(
      {
        requestId: entry.requestId,
        transport: "ws",
        operation: { type: report?.type ?? null, name: report?.name ?? entry.askedName?.slice(0, 100) ?? null },
        outcome: entry.outcome,
        durationMs: Math.round(durationMs * 10) / 10,
        ...(entry.errorCodes && { errors: entry.errorCodes }),
        ...(context?.viewer && { userId: context.viewer.userId }),
        ...(context?.partnerId && { partner: context.partnerId }),
        clientAddress: context?.clientAddress ?? this.addressOf(entry.request),
      },
      "operation",
    );
  }
}

/** A WebSocket operation as it ended. */
export interface OperationEnd {
  context: Context | undefined;
  requestId: string;
  startedAt: number;
  /** The socket's upgrade request (the client address when the operation never got a context). */
  request: IncomingMessage;
  /** The operation name the client asked for, for one refused before it had a context (bounded here). */
  askedName?: string | undefined;
  outcome: "complete" | "error";
  errorCodes: string[] | undefined;
}

/** Counts the codes of errors answered for /metrics, and adds them to the operation's report (bounded) for its log line. */
export function noteErrors(report: OperationReport | undefined, errors: readonly GraphQLFormattedError[], metrics: Metrics, transport: "ws" | "sse" | "http"): void {
  const codes = codesOf(errors);
  if (!codes) return;
  for (const code of codes) metrics.graphqlErrors.inc({ code, transport });
  if (!report) return;
  const all = report.errorCodes ?? (report.errorCodes = []);
  for (const code of codes) if (all.length < 20) all.push(code);
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ApolloServer } from "@apollo/server";
import type { GraphQLSchema } from "graphql";
import type { Logger } from "pino";
import { jwks, type AccessTokens } from "../auth/index.ts";
import { hasRole } from "../auth/roles.ts";
import type { Config } from "../config.ts";
import type { Database } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { decodeCursor } from "../events/outbox.ts";
import type { RedisClient } from "../events/redis-connection.ts";
import { CATALOG_TOPICS } from "../events/topics.ts";
import type { CachePolicies } from "../graphql/cache-policy.ts";
import type { Context } from "../graphql/context.ts";
import type { OperationLimits } from "../graphql/limits.ts";
import { SHARED_SUBSCRIPTIONS, type Services } from "../modules/index.ts";
import { DEMO_ACCOUNTS } from "../seed/demo.ts";
import { clientAddress } from "../server/client-address.ts";
import { createCors } from "../server/cors.ts";
import { createExplorer } from "../server/explorer.ts";
import { Fanout } from "../server/fanout.ts";
import { createHttpHandler } from "../server/http.ts";
import type { WatchViewer } from "../server/live-viewer.ts";
import { createMetrics, type Metrics } from "../server/metrics.ts";
import { Operations } from "../server/operations.ts";
import { PARTNER_KEY_HEADER } from "../server/persisted/trusted-documents.ts";
import { OperationNames, RequestLog, noteErrors } from "../server/request-log.ts";
import { ResponseCache, namespaceOf } from "../server/response-cache.ts";
import { ResponseCacheFastPath } from "../server/response-cache-http.ts";
import { GOING_AWAY, Lifecycle } from "../server/shutdown.ts";
import { createSseHandler } from "../server/sse.ts";
import { attachWebSocket } from "../server/websocket.ts";
import { startApollo } from "./apollo.ts";
import { contexts, type Contexts } from "./contexts.ts";
import type { Disposals } from "./disposals.ts";
import { errorReporting, type ErrorReporting } from "./errors.ts";
import { closeServer, listen, listenForMetrics, readiness } from "./listen.ts";
import { persistedQueries, type PersistedQueries } from "./persisted.ts";

/** What the transports are built on: everything the steps before them made. */
export interface TransportParts {
  tokens: AccessTokens;
  db: Database;
  bus: EventBus;
  redis: RedisClient | undefined;
  services: Services;
  schema: GraphQLSchema;
  limits: OperationLimits;
  cachePolicies: CachePolicies;
}

export interface Listening {
  port: number;
  metricsPort?: number;
}

/**
 * Step 5, transports: HTTP (Apollo at /graphql, SSE, health, metrics, explorer) and WebSocket
 * on one port, listening. Registers Apollo, the metrics listener and, last, the drain of HTTP
 * and WebSocket, so a stop drains them before anything else is closed.
 */
export async function startTransports(config: Config, log: Logger, parts: TransportParts, disposals: Disposals): Promise<Listening> {
  const { db, bus, redis, services } = parts;
  // Read only when /metrics is scraped, after the lifecycle and the fan-out below exist.
  const metrics = createMetrics({
    sqlStatements: () => db.statementCount(),
    httpInFlight: () => lifecycle.inFlight,
    bus: () => bus.stats(),
    redis: () => ({ ...bus.redisStatus(), ...(redis ? { cache: redis.status } : {}) }),
    pool: () => db.poolStats(),
    subscriptions: () => live.fanout.subscriptionsByField(),
  });
  const persisted = persistedQueries(config, log, { services, redis, metrics });
  const responseCache = anonymousResponseCache(config, log, parts, metrics);
  const errors = errorReporting(config, log);
  const context = contexts(config, parts, errors);
  const requestLog = new RequestLog(log, metrics, new OperationNames(persisted.operationNames), (req) => clientAddress(req, config.trustProxyHops));
  const shared = { ...parts, metrics, persisted, responseCache, errors, context, requestLog };

  const httpServer = createServer();
  const live = realtime(config, log, httpServer, shared);
  // Before the request handler is attached: its listener must see every request first.
  const lifecycle = new Lifecycle({
    server: httpServer,
    ...config.shutdown,
    webSockets: {
      close: () => {
        // Every group stops first: nothing more is executed for connections that are closing.
        live.fanout.close();
        return live.ws.close(GOING_AWAY.code, GOING_AWAY.reason);
      },
      terminate: () => live.ws.terminate(),
    },
    streams: { close: () => live.sse.close(), terminate: () => live.sse.terminate() },
    log,
  });
  const apollo = await startApollo(config, log, { ...parts, metrics, errors, apqCache: persisted.apqCache, responseCache });
  disposals.add(() => apollo.stop());
  httpServer.on("request", httpHandler(config, log, { ...shared, apollo, lifecycle, stream: live.sse.handle }));
  return listening(config, log, { httpServer, lifecycle, metrics }, disposals);
}

/** What every transport shares, made once by startTransports. */
interface Shared extends TransportParts {
  metrics: Metrics;
  persisted: PersistedQueries;
  responseCache: ResponseCache | undefined;
  errors: ErrorReporting;
  context: Contexts;
  requestLog: RequestLog;
}

/**
 * The WebSocket (attached to the HTTP server's upgrades) and GraphQL over SSE (a handler for
 * /graphql/stream). They share one pipeline before an operation runs (trusted documents, APQ,
 * limits, validation; documents cached by text) and one fan-out, so identical subscriptions
 * share each event's execution whichever transport they came by.
 */
function realtime(config: Config, log: Logger, httpServer: Server, { schema, limits, bus, services, metrics, persisted, errors, context, requestLog }: Shared) {
  const operations = new Operations({
    schema,
    limits,
    metrics,
    trustedDocuments: (partnerKey, params, staff, transport) => persisted.trusted.decide(partnerKey, params, staff, transport),
    ...(persisted.apq && { apq: persisted.apq }),
  });
  const fanout = new Fanout({
    schema,
    sharedContext: context.shared,
    sharedRootFields: SHARED_SUBSCRIPTIONS,
    formatError: errors.format,
    onErrors: (ctx, errs) => noteErrors((ctx as Context).report, errs, metrics, "ws"),
    metrics,
    maxBufferedBytes: config.websocket.maxBufferedBytes,
    backlogTimeoutMs: config.websocket.backlogTimeoutMs,
    cursorOf: (event) => bus.cursorOf(event),
    resume: {
      position: () => bus.position,
      positionOf: (event) => bus.positionOf(event),
      positionOfCursor: (cursor) => decodeCursor(cursor)?.position,
      replayContext: (ctx, until) => ({ ...(ctx as Context), events: bus.replayOnly(until) }),
    },
  });
  const watchViewer = viewerWatch(bus, log);
  const closeOnDemotion = config.persistedQueries.trustedDocumentsOnly;
  const ws = attachWebSocket(httpServer, {
    schema,
    authenticate: (token) => services.identity.viewerFromToken(token),
    context: context.socket,
    watchViewer,
    formatError: errors.format,
    requestLog,
    onAuthenticationFailure: (error) => log.error({ err: error }, "socket credentials could not be checked"),
    metrics,
    operations,
    fanout,
    closeOnDemotion,
  });
  const sse = createSseHandler({ schema, context: context.http, operations, fanout, watchViewer, closeOnDemotion, formatError: errors.format, metrics });
  return { fanout, ws, sse };
}

/** The HTTP request handler: /graphql through Apollo (or the response cache), SSE, health, metrics, JWKS, explorer. */
function httpHandler(
  config: Config,
  log: Logger,
  { apollo, lifecycle, stream, db, bus, tokens, limits, metrics, persisted, responseCache, context, requestLog }: Shared & { apollo: ApolloServer<Context>; lifecycle: Lifecycle; stream: (req: IncomingMessage, res: ServerResponse) => Promise<void> },
) {
  const explorer = config.explorer ? createExplorer({ demoAccounts: config.seedDemo ? DEMO_ACCOUNTS : [] }) : undefined;
  const fastPath = responseCache && new ResponseCacheFastPath(responseCache, metrics, persisted.apqCache !== undefined);
  return createHttpHandler({
    apollo,
    context: context.http,
    ready: readiness(db, bus),
    phase: () => lifecycle.phase,
    metrics,
    log,
    requestLog,
    serveMetrics: config.metrics.port === undefined,
    metricsToken: config.metrics.token,
    jwks: () => jwks(tokens.keys),
    explorer: explorer?.handle,
    checkQuery: (text) => limits.checkText(text),
    cors: createCors(config.corsOrigins),
    stream,
    ...(fastPath && { cachedAnswer: (req, res, request, ctx) => fastPath.answer(req, res, request, ctx) }),
    trustedDocuments: (req, params, ctx) => {
      const key = req.headers[PARTNER_KEY_HEADER];
      // A failing context (bad token) rejects, and the gate answers with that error.
      return persisted.trusted.decide(typeof key === "string" ? key : undefined, params, () => ctx().then((c) => !!c.viewer && hasRole(c.viewer.role, "STAFF")), "http");
    },
  });
}

/**
 * Anonymous public catalog answers, shared (Redis) or per instance; stale once the bus reports a
 * catalog change. Undefined when RESPONSE_CACHE is off.
 */
function anonymousResponseCache(config: Config, log: Logger, { bus, redis, schema }: TransportParts, metrics: Metrics): ResponseCache | undefined {
  if (!config.responseCache) return undefined;
  const cache = new ResponseCache({ redis, prefix: config.redisPrefix, namespace: namespaceOf(schema, config.operationLimits, bus.streamId), position: () => bus.position, metrics, log });
  bus.onEvents(CATALOG_TOPICS, (position) => cache.changed(position));
  return cache;
}

/** Follows a user's sessions and role on every instance (VIEWER_CHANGED), for open sockets and streams. */
function viewerWatch(bus: EventBus, log: Logger): WatchViewer {
  return (userId, on) => {
    const changes = bus.subscribe("VIEWER_CHANGED", [userId]);
    void (async () => {
      for await (const change of changes) {
        if (change.revokedSessions) on.revoked(change.revokedSessions);
        if (change.role) on.role(change.role);
      }
    })().catch((error: unknown) => log.warn({ err: (error as Error).message }, "viewer watch ended"));
    return () => void changes.return?.();
  };
}

/**
 * The metrics listener (METRICS_PORT) first: one that cannot be had stops the start with nothing
 * served. Then the API port; once it listens, the drain of HTTP and WebSocket is registered last,
 * so it is the first thing a stop does.
 */
async function listening(config: Config, log: Logger, { httpServer, lifecycle, metrics }: { httpServer: Server; lifecycle: Lifecycle; metrics: Metrics }, disposals: Disposals): Promise<Listening> {
  const metricsServer = config.metrics.port === undefined ? undefined : await listenForMetrics(config, metrics, log);
  if (metricsServer) disposals.add(() => closeServer(metricsServer));
  await listen(httpServer, config.port, config.host);
  disposals.add(() => lifecycle.drain());
  if (config.env === "production" && config.metrics.port === undefined && config.metrics.token === undefined) {
    log.warn("/metrics is public on the API port: set METRICS_PORT (a port the load balancer does not expose) or METRICS_TOKEN");
  }
  lifecycle.started();
  return {
    port: (httpServer.address() as AddressInfo).port,
    ...(metricsServer && { metricsPort: (metricsServer.address() as AddressInfo).port }),
  };
}

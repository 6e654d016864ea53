import "reflect-metadata";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { openDatabase, type Database } from "./db/client.ts";
import { applyMigrations } from "./db/migrate.ts";
import { DEMO_ACCOUNTS, seedIfEmpty } from "./seed/demo.ts";
import { EventBus } from "./events/bus.ts";
import { createRedisClient, whenReady, type RedisClient } from "./events/redis-connection.ts";
import { OutboxStore, decodeCursor } from "./events/outbox.ts";
import { setTransactionHooks } from "./db/transaction.ts";
import { createContext, type Context } from "./graphql/context.ts";
import { formatError, internalError, unauthenticated } from "./graphql/errors.ts";
import { GraphQLError } from "graphql";
import { createSchema } from "./graphql/schema.ts";
import { OperationLimits } from "./graphql/limits.ts";
import { ExternalTokens, LoginLimiter, jwks } from "./auth/index.ts";
import { hasRole, sharedViewer, type Viewer } from "./auth/roles.ts";
import { SHARED_SUBSCRIPTIONS, createLoaders, createServices, loaderScope, schemaParts } from "./modules/index.ts";
import { PartnerAudit } from "./modules/audit/index.ts";
import { accessTokensFor } from "./modules/identity/index.ts";
import { createCors } from "./server/cors.ts";
import { createExplorer } from "./server/explorer.ts";
import { CompiledExecutor } from "./server/compiled-executor.ts";
import { InMemoryLRUCache, PrefixingKeyValueCache } from "@apollo/utils.keyvaluecache";
import { RedisKeyValueCache } from "./server/persisted/apq-cache.ts";
import { PARTNER_KEY_HEADER, TrustedDocuments } from "./server/persisted/trusted-documents.ts";
import { clientAddress } from "./server/client-address.ts";
import { createHttpHandler, serveMetricsAt, send } from "./server/http.ts";
import { loadManifest } from "./server/persisted/manifest.ts";
import { OperationNames, RequestLog, noteContext, noteErrors, requestIdOf } from "./server/request-log.ts";
import { requestReportPlugin } from "./server/plugins/request-report.ts";
import { createLogger } from "./server/logger.ts";
import { createMetrics } from "./server/metrics.ts";
import { operationMetricsPlugin } from "./server/plugins/operation-metrics.ts";
import { limitsPlugin } from "./server/plugins/limits.ts";
import { cacheScopePlugin } from "./server/plugins/cache-scope.ts";
import { cachePolicyPlugin } from "./server/plugins/cache-policy.ts";
import { CachePolicies } from "./graphql/cache-policy.ts";
import { responseCachePlugin } from "./server/plugins/response-cache.ts";
import { ResponseCache, namespaceOf } from "./server/response-cache.ts";
import { ResponseCacheFastPath } from "./server/response-cache-http.ts";
import { CATALOG_TOPICS } from "./events/topics.ts";
import { requestErrorStatusPlugin } from "./server/plugins/request-error-status.ts";
import { attachWebSocket } from "./server/websocket.ts";
import { Fanout } from "./server/fanout.ts";
import type { WatchViewer } from "./server/live-viewer.ts";
import { Operations } from "./server/operations.ts";
import { stringifyResult } from "./server/raw-data.ts";
import { createSseHandler } from "./server/sse.ts";
import { GOING_AWAY, Lifecycle } from "./server/shutdown.ts";
import { migrationsOrFail, waitForDatabase } from "./startup.ts";

export interface App {
  /** http://host:port/graphql */
  url: string;
  wsUrl: string;
  port: number;
  /** The port of /metrics' own listener when METRICS_PORT is set. */
  metricsPort?: number;
  db: Database;
  bus: EventBus;
  log: Logger;
  /**
   * Drains HTTP and WebSocket (server/shutdown.ts: readiness 503 for SHUTDOWN_DELAY, then every
   * in-flight request answered), then closes Redis and the database. Safe to call twice. Rejects
   * when the drain exceeded SHUTDOWN_TIMEOUT (the resources are closed all the same).
   */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 2_000;
const REDIS_CONNECT_WAIT_MS = 3_000;
const REDIS_COMMAND_TIMEOUT_MS = 150;

/** Composition root: config -> db -> pub/sub -> services -> schema -> server. */
export async function startApp(config: Config, log: Logger = createLogger(config.logLevel)): Promise<App> {
  // The key first: a wrong one must stop the start before anything touches the database.
  const tokens = await accessTokensFor(config);
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    owner: "the Cartwheel server",
    poolSize: config.databasePool.size,
    poolTimeoutMs: config.databasePool.timeoutMs,
    preparedStatements: config.databasePool.preparedStatements,
  });
  const bus = config.redis ? EventBus.redis(config.redis, config.redisPrefix, log) : EventBus.inProcess(log);
  let redis: RedisClient | undefined;
  let metricsServer: Server | undefined;
  try {
    await waitForDatabase(() => db.ping(), config.databaseUrl, config.databaseConnectTimeoutMs, log);
    const applied = await migrationsOrFail(config.databaseUrl, () => applyMigrations(db.sql));
    if (applied.length) log.info({ applied }, "migrations applied");
    await bus.start(new OutboxStore(db.sql), config.outbox);
    if (process.env.CARTWHEEL_TEST_CRASH_AFTER_COMMIT === "1") {
      // Test hook (test/e2e/outbox.test.ts): die between a commit and its publish, as a crash would.
      setTransactionHooks({ afterCommit: async () => void process.kill(process.pid, "SIGKILL") });
    }
    // Never queues while Redis is away: the limiter falls back to memory and the APQ store misses at once.
    // A Redis that is connected but does not answer is given REDIS_COMMAND_TIMEOUT_MS, then the
    // limiter counts in memory and the APQ store misses.
    redis = config.redis ? createRedisClient(config.redis, { name: "cartwheel:commands", offlineQueue: false, maxRetriesPerRequest: 1, commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS }) : undefined;
    redis?.on("error", (error: Error) => log.warn({ err: error.message }, "redis (login limits, APQ cache) connection error"));
    // A fresh instance counts log-ins in Redis and publishes from its first request on, unless
    // Redis is away (then it serves anyway; readiness says so).
    await Promise.all([bus.connected(REDIS_CONNECT_WAIT_MS), redis && whenReady(redis, REDIS_CONNECT_WAIT_MS)]);
    const loginLimiter = new LoginLimiter(config.loginLimits, redis && { redis: redis, prefix: config.redisPrefix }, config.passwordRateLimits);
    const services = createServices({
      prisma: db.prisma,
      bus,
      tokens,
      refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
      catalogReads: config.catalogReads,
      read: (text, values) => db.read(text, values),
      loginLimiter,
      ...(config.oidc ? { externalTokens: new ExternalTokens(config.oidc) } : {}),
    });
    if (config.seedDemo && (await seedIfEmpty(db, services))) log.info("seeded the demo shop");
    // HOST defaults to loopback with demo seeding on; someone who set it otherwise hears the risk.
    if (config.seedDemo && !["127.0.0.1", "::1", "localhost"].includes(config.host)) {
      log.warn({ host: config.host }, "the demo accounts (public passwords) are reachable from the network: set HOST=127.0.0.1 or SEED_DEMO=false");
    }
    const schema = await createSchema(schemaParts);
    const limits = new OperationLimits(schema, config.operationLimits);
    const cachePolicies = new CachePolicies(schema);
    // Read only when /metrics is scraped, after the lifecycle and the fan-out below exist.
    const metrics = createMetrics({
      sqlStatements: () => db.statementCount(),
      httpInFlight: () => lifecycle.inFlight,
      bus: () => bus.stats(),
      redis: () => ({ ...bus.redisStatus(), ...(redis ? { cache: redis.status } : {}) }),
      pool: () => db.poolStats(),
      subscriptions: () => fanout.subscriptionsByField(),
    });
    const { persistedQueries } = config;
    // Partner-key use reaches the audit log bounded: one row per partner, operation and outcome a minute.
    const partnerAudit = new PartnerAudit(services.audit, { onError: (error) => log.warn({ err: (error as Error).message }, "partner-key use could not be audited") });
    const trusted = TrustedDocuments.load(persistedQueries, metrics, (use) => void partnerAudit.note(use));
    if (trusted.active) log.info({ partners: trusted.partnerCount, trustedDocumentsOnly: persistedQueries.trustedDocumentsOnly }, "trusted documents on");
    // APQ for every client; shared through Redis when there is one. Apollo keys it "apq:<hash>";
    // the WebSocket reads and writes the same entries.
    const apqCache = persistedQueries.apq ? (redis ? new RedisKeyValueCache(redis, config.redisPrefix, log) : new InMemoryLRUCache<string>()) : undefined;
    const apqEntries = apqCache && new PrefixingKeyValueCache(apqCache, "apq:");
    // The domain's loader factory and scope, handed to the platform's context builder.
    const contextDeps = { services, events: bus, createLoaders: (viewer: Viewer | null) => createLoaders(db.prisma, viewer), loaderScope };
    // Anonymous public catalog answers, shared (Redis) or per instance; stale once the bus reports a catalog change.
    const responseCache = config.responseCache
      ? new ResponseCache({ redis, prefix: config.redisPrefix, namespace: namespaceOf(schema, config.operationLimits, bus.streamId), position: () => bus.position, metrics, log })
      : undefined;
    if (responseCache) bus.onEvents(CATALOG_TOPICS, (position) => responseCache.changed(position));
    const fastPath = responseCache && new ResponseCacheFastPath(responseCache, metrics, apqCache !== undefined);

    // Every unexpected error is logged once, with the id its masked INTERNAL_SERVER_ERROR carries.
    const reported = new WeakSet<object>();
    const reportUnexpected = (error: unknown, requestId: string | undefined) => {
      if (typeof error === "object" && error !== null) {
        if (reported.has(error)) return;
        reported.add(error);
      }
      log.error({ err: error, requestId }, "unexpected error");
    };
    const formatOptions = { hideSuggestions: config.hideSchemaSuggestions };
    // WebSocket, SSE and fan-out: the caller names the operation's request id (a fresh one for a shared execution).
    const format = (formatted: Parameters<typeof formatError>[0], original: unknown, requestId: string = randomUUID()) =>
      formatError(formatted, original, (error) => (reportUnexpected(error, requestId), requestId), formatOptions);
    // Apollo's formatError sees no context: requestReportPlugin logs the error with its request id
    // first and adds the id to the answer; what is left here failed outside an operation.
    const formatHttp = (formatted: Parameters<typeof formatError>[0], original: unknown) =>
      formatError(formatted, original, (error) => (reportUnexpected(error, undefined), undefined), formatOptions);
    const requestLog = new RequestLog(log, metrics, new OperationNames(knownOperationNames(trusted, config.persistedQueries.manifest)), (req) =>
      clientAddress(req, config.trustProxyHops),
    );

    const httpServer = createServer();
    // Before the request handler is attached: its listener must see every request first.
    const lifecycle = new Lifecycle({
      server: httpServer,
      ...config.shutdown,
      webSockets: {
        close: () => {
          // Every group stops first: nothing more is executed for connections that are closing.
          fanout.close();
          return ws.close(GOING_AWAY.code, GOING_AWAY.reason);
        },
        terminate: () => ws.terminate(),
      },
      streams: { close: () => sse.close(), terminate: () => sse.terminate() },
      log,
    });
    // What the WebSocket and GraphQL over SSE share: one pipeline before an operation runs
    // (trusted documents, APQ, limits, validation; documents cached by text) and one fan-out, so
    // identical subscriptions share each event's execution whichever transport they came by.
    const operations = new Operations({
      schema,
      limits,
      metrics,
      trustedDocuments: (partnerKey, params, staff, transport) => trusted.decide(partnerKey, params, staff, transport),
      ...(apqEntries && {
        apq: {
          get: (hash: string) => apqEntries.get(hash),
          set: (hash: string, text: string) => apqEntries.set(hash, text, { ttl: persistedQueries.apqTtlSeconds }),
        },
      }),
    });
    const fanout = new Fanout({
      schema,
      sharedContext: (role, userId) => createContext(contextDeps, { viewer: role ? sharedViewer(role, userId) : null }),
      sharedRootFields: SHARED_SUBSCRIPTIONS,
      formatError: format,
      onErrors: (context, errors) => noteErrors((context as Context).report, errors, metrics, "ws"),
      metrics,
      maxBufferedBytes: config.websocket.maxBufferedBytes,
      backlogTimeoutMs: config.websocket.backlogTimeoutMs,
      cursorOf: (event) => bus.cursorOf(event),
      resume: {
        position: () => bus.position,
        positionOf: (event) => bus.positionOf(event),
        positionOfCursor: (cursor) => decodeCursor(cursor)?.position,
        replayContext: (context, until) => ({ ...(context as Context), events: bus.replayOnly(until) }),
      },
    });
    const watchViewer: WatchViewer = (userId, on) => {
      const changes = bus.subscribe("VIEWER_CHANGED", [userId]);
      void (async () => {
        for await (const change of changes) {
          if (change.revokedSessions) on.revoked(change.revokedSessions);
          if (change.role) on.role(change.role);
        }
      })().catch((error: unknown) => log.warn({ err: (error as Error).message }, "viewer watch ended"));
      return () => void changes.return?.();
    };
    const ws = attachWebSocket(httpServer, {
      schema,
      authenticate: (token) => services.identity.viewerFromToken(token),
      context: (viewer, connection, request) => createContext(contextDeps, { viewer, connection, clientAddress: clientAddress(request, config.trustProxyHops) }),
      watchViewer,
      formatError: format,
      requestLog,
      onAuthenticationFailure: (error) => log.error({ err: error }, "socket credentials could not be checked"),
      metrics,
      operations,
      fanout,
      closeOnDemotion: persistedQueries.trustedDocumentsOnly,
    });
    // Apollo 5 takes an executor only from a gateway: it still parses, validates, runs the plugins
    // (per-field hooks included) and formats errors; the gateway only executes.
    const compiled =
      config.graphqlExecutor.kind === "jit"
        ? new CompiledExecutor({
            schema,
            maxDocuments: config.graphqlExecutor.maxCompiledDocuments,
            // Catalog queries of plain fields: their whole answer from PostgreSQL (CATALOG_READS=direct).
            direct: (run) =>
              run.operation
                ? services.catalog.answerDirectly((run.contextValue as Context).viewer, { schema, operation: run.operation, fragments: run.fragments, variables: run.variables })
                : Promise.resolve(undefined),
            onDirectFailure: (error, run) =>
              log.warn({ err: error, requestId: (run.contextValue as Context).requestId }, "a catalog query could not be answered directly: the executor answers it"),
            onExecute: (path) => metrics.graphqlExecutions.inc({ executor: path === "jit" ? "jit" : path === "direct" ? "postgres" : "graphql-js", path }),
            onCompiled: (documents) => metrics.compiledDocuments.set(documents),
            onCompileFailure: (error) => log.warn({ err: error }, "graphql-jit could not compile a document: it runs on graphql-js"),
          })
        : undefined;
    const apollo = new ApolloServer<Context>({
      ...(compiled ? { gateway: compiled.gateway() } : { schema }),
      formatError: formatHttp,
      // Introspection is refused by limits.validationRules, the same rule as on the WebSocket.
      introspection: true,
      validationRules: limits.validationRules,
      // Also for texts that reach Apollo without passing server/http.ts (APQ entries stored earlier).
      parseOptions: { maxTokens: config.operationLimits.maxTokens },
      // main.ts owns signals; the lifecycle drains HTTP and WebSocket before Apollo stops.
      stopOnTerminationSignals: false,
      includeStacktraceInErrorResponses: false,
      persistedQueries: apqCache ? { cache: apqCache, ttl: persistedQueries.apqTtlSeconds } : false,
      // Compact JSON: Apollo's default indents every response (a third more bytes on a catalog page).
      stringifyResult,
      plugins: [
        ApolloServerPluginLandingPageDisabled(),
        requestReportPlugin(reportUnexpected, metrics),
        operationMetricsPlugin(metrics),
        limitsPlugin(limits),
        cacheScopePlugin(),
        requestErrorStatusPlugin(),
        // Hints live in the schema (@cacheControl on the public catalog); everything else is no-store.
        // One policy per document instead of Apollo's plugin, which hooks every resolved field.
        ApolloServerPluginCacheControlDisabled(),
        cachePolicyPlugin(cachePolicies),
        ...(responseCache ? [responseCachePlugin(responseCache, cachePolicies)] : []),
      ],
    });
    await apollo.start();

    // Defined before the SSE handler, which builds its contexts the same way.
    // A dependency failing while the context is built (the session check's database) is logged
    // here with the request id, which its masked answer carries.
    const httpContext = (req: IncomingMessage): Promise<Context> =>
      noteContext(
        req,
        buildHttpContext(req).catch((error: unknown) => {
          if (error instanceof GraphQLError) throw error;
          const requestId = requestIdOf(req);
          reportUnexpected(error, requestId);
          throw internalError(error, requestId);
        }),
      );
    const buildHttpContext = async (req: IncomingMessage): Promise<Context> => {
      const header = req.headers.authorization;
      let viewer = null;
      if (header) {
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        if (!match) throw unauthenticated("Authorization must be \"Bearer <accessToken>\"");
        viewer = await services.identity.viewerFromToken(match[1]!);
      }
      return createContext(contextDeps, {
        viewer,
        userAgent: req.headers["user-agent"],
        clientAddress: clientAddress(req, config.trustProxyHops),
        requestId: requestIdOf(req),
      });
    };
    // Each dependency is named in the answer, so the 503 says which one failed.
    const ready = async () => {
      const check = async (name: string, ping: () => Promise<void>) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no answer within 2 s")), READY_TIMEOUT_MS);
        });
        try {
          await Promise.race([ping(), timeout]);
          return undefined;
        } catch (error) {
          return `${name}: ${(error as Error).message.replace(/^redis: /, "")}`;
        } finally {
          clearTimeout(timer);
        }
      };
      const failing = (await Promise.all([check("database", () => db.ping()), check("redis", () => bus.ping())])).filter(Boolean);
      if (failing.length > 0) throw new Error(failing.join("; "));
    };
    const sse = createSseHandler({
      schema,
      context: httpContext,
      operations,
      fanout,
      watchViewer,
      closeOnDemotion: persistedQueries.trustedDocumentsOnly,
      formatError: format,
      metrics,
    });
    const explorer = config.explorer ? createExplorer({ demoAccounts: config.seedDemo ? DEMO_ACCOUNTS : [] }) : undefined;
    httpServer.on(
      "request",
      createHttpHandler({
        apollo,
        context: httpContext,
        ready,
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
        stream: sse.handle,
        ...(fastPath && { cachedAnswer: (req, res, request, context) => fastPath.answer(req, res, request, context) }),
        trustedDocuments: (req, params, context) => {
          const key = req.headers[PARTNER_KEY_HEADER];
          // A failing context (bad token) rejects, and the gate answers with that error.
          return trusted.decide(typeof key === "string" ? key : undefined, params, () => context().then((c) => !!c.viewer && hasRole(c.viewer.role, "STAFF")), "http");
        },
      }),
    );
    // Before the API listens: a METRICS_PORT that cannot be had stops the start with nothing served.
    metricsServer = config.metrics.port === undefined ? undefined : await listenForMetrics(config, metrics, log);
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    if (config.env === "production" && config.metrics.port === undefined && config.metrics.token === undefined) {
      log.warn("/metrics is public on the API port: set METRICS_PORT (a port the load balancer does not expose) or METRICS_TOKEN");
    }
    lifecycle.started();
    const port = (httpServer.address() as AddressInfo).port;
    const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}/graphql`,
      wsUrl: `ws://${host}:${port}/graphql`,
      port,
      ...(metricsServer && { metricsPort: (metricsServer.address() as AddressInfo).port }),
      db,
      bus,
      log,
      stop: () =>
        (stopping ??= (async () => {
          try {
            await lifecycle.drain();
          } finally {
            await closeServer(metricsServer);
            await apollo.stop();
            await bus.close();
            redis?.disconnect();
            await db.close();
          }
        })()),
    };
  } catch (error) {
    await closeServer(metricsServer);
    await bus.close().catch(() => {});
    redis?.disconnect();
    await db.close().catch(() => {});
    throw error;
  }
}

/**
 * Operation names that may become metric labels: the manifests in use, and the app's own
 * (codegen's persisted documents) when it is there, so the storefront's operations are named.
 */
function knownOperationNames(trusted: TrustedDocuments, appManifest: string): Set<string> {
  const names = trusted.operationNames();
  if (existsSync(appManifest)) {
    try {
      for (const entry of loadManifest(appManifest).values()) names.add(entry.operationName);
    } catch {
      // A bad manifest fails the start where it is required (trusted-documents mode); for labels, none.
    }
  }
  return names;
}

/** METRICS_PORT: /metrics (and nothing else) on a listener of its own, on the same HOST. */
async function listenForMetrics(config: Config, metrics: ReturnType<typeof createMetrics>, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") return send(res, 404, { error: "not found" });
    serveMetricsAt(metrics, config.metrics.token, req, res).catch((error: unknown) => {
      log.error({ err: error }, "metrics scrape failed");
      if (!res.headersSent) send(res, 500, { error: "internal server error" });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.metrics.port, config.host, () => resolve());
  });
  return server;
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

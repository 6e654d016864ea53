import "reflect-metadata";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginCacheControl } from "@apollo/server/plugin/cacheControl";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { openDatabase, type Database } from "./db/client.ts";
import { applyMigrations } from "./db/migrate.ts";
import { DEMO_ACCOUNTS, seedIfEmpty } from "../prisma/seed.ts";
import { EventBus } from "./events/bus.ts";
import { createContext, type Context } from "./graphql/context.ts";
import { formatError, unauthenticated } from "./graphql/errors.ts";
import { createSchema } from "./graphql/schema.ts";
import { Redis } from "ioredis";
import { ExternalTokens, LoginLimiter, jwks } from "./auth/index.ts";
import { hasRole } from "./auth/roles.ts";
import { createServices } from "./modules/index.ts";
import { accessTokensFor } from "./modules/identity/index.ts";
import { createExplorer } from "./server/explorer.ts";
import { InMemoryLRUCache, PrefixingKeyValueCache } from "@apollo/utils.keyvaluecache";
import { RedisKeyValueCache } from "./server/persisted/apq-cache.ts";
import { PARTNER_KEY_HEADER, TrustedDocuments } from "./server/persisted/trusted-documents.ts";
import { createHttpHandler } from "./server/http.ts";
import { createLogger } from "./server/logger.ts";
import { createMetrics } from "./server/metrics.ts";
import { drainWebSocketPlugin } from "./server/plugins/drain-websocket.ts";
import { operationMetricsPlugin } from "./server/plugins/operation-metrics.ts";
import { cacheScopePlugin } from "./server/plugins/cache-scope.ts";
import { requestErrorStatusPlugin } from "./server/plugins/request-error-status.ts";
import { attachWebSocket } from "./server/websocket.ts";

export interface App {
  /** http://host:port/graphql */
  url: string;
  wsUrl: string;
  port: number;
  db: Database;
  bus: EventBus;
  log: Logger;
  /** Drains HTTP and WebSocket, then closes Redis and the database. Safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 2_000;

/** Composition root: config -> db -> pub/sub -> services -> schema -> server. */
export async function startApp(config: Config, log: Logger = createLogger(config.logLevel)): Promise<App> {
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const bus = config.redisUrl ? EventBus.redis(config.redisUrl, config.redisPrefix, log) : EventBus.inProcess(log);
  let redis: Redis | undefined;
  try {
    const applied = await applyMigrations(db.sql);
    if (applied.length) log.info({ applied }, "migrations applied");
    const tokens = await accessTokensFor(config);
    redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
    redis?.on("error", (error: Error) => log.warn({ err: error.message }, "redis (login limits, APQ cache) connection error"));
    const loginLimiter = new LoginLimiter(config.loginLimits, redis && { redis: redis, prefix: config.redisPrefix });
    const services = createServices({
      prisma: db.prisma,
      bus,
      tokens,
      refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
      loginLimiter,
      ...(config.oidc ? { externalTokens: new ExternalTokens(config.oidc) } : {}),
    });
    if (config.seedDemo && (await seedIfEmpty(db, services))) log.info("seeded the demo shop");
    const schema = await createSchema();
    const metrics = createMetrics(() => db.statementCount());
    const { persistedQueries } = config;
    const trusted = TrustedDocuments.load(persistedQueries, metrics);
    if (trusted.active) log.info({ partners: trusted.partnerCount, trustedDocumentsOnly: persistedQueries.trustedDocumentsOnly }, "trusted documents on");
    // APQ for every client; shared through Redis when there is one. Apollo keys it "apq:<hash>";
    // the WebSocket reads and writes the same entries.
    const apqCache = persistedQueries.apq ? (redis ? new RedisKeyValueCache(redis, config.redisPrefix, log) : new InMemoryLRUCache<string>()) : undefined;
    const apqEntries = apqCache && new PrefixingKeyValueCache(apqCache, "apq:");
    const contextDeps = { prisma: db.prisma, services, events: bus };

    const onUnexpected = (error: unknown) => {
      log.error({ err: error }, "unexpected error");
      return undefined;
    };
    const format = (formatted: Parameters<typeof formatError>[0], original: unknown) => formatError(formatted, original, onUnexpected);

    const httpServer = createServer();
    const ws = attachWebSocket(httpServer, {
      schema,
      authenticate: (token) => services.identity.viewerFromToken(token),
      context: (viewer, connection, clientAddress) => createContext(contextDeps, { viewer, connection, clientAddress }),
      watchViewer: (userId, on) => {
        const changes = bus.subscribe("VIEWER_CHANGED", [userId]);
        void (async () => {
          for await (const change of changes) {
            if (change.revokedSessions) on.revoked(change.revokedSessions);
            if (change.role) on.role(change.role);
          }
        })().catch((error: unknown) => log.warn({ err: (error as Error).message }, "viewer watch ended"));
        return () => void changes.return?.();
      },
      formatError: format,
      metrics,
      trustedDocuments: (partnerKey, params, staff) => trusted.decide(partnerKey, params, staff, "ws"),
      closeOnDemotion: persistedQueries.trustedDocumentsOnly,
      ...(apqEntries && {
        apq: {
          get: (hash: string) => apqEntries.get(hash),
          set: (hash: string, text: string) => apqEntries.set(hash, text, { ttl: persistedQueries.apqTtlSeconds }),
        },
      }),
    });
    const apollo = new ApolloServer<Context>({
      schema,
      formatError: format,
      introspection: true,
      // main.ts owns signals: it drains everything, not just Apollo.
      stopOnTerminationSignals: false,
      includeStacktraceInErrorResponses: false,
      persistedQueries: apqCache ? { cache: apqCache, ttl: persistedQueries.apqTtlSeconds } : false,
      plugins: [
        drainWebSocketPlugin(ws.cleanup),
        ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: 5_000 }),
        ApolloServerPluginLandingPageDisabled(),
        operationMetricsPlugin(metrics),
        cacheScopePlugin(),
        requestErrorStatusPlugin(),
        // Hints live in the schema (@cacheControl on the public catalog); everything else is no-store.
        ApolloServerPluginCacheControl({ defaultMaxAge: 0, calculateHttpHeaders: true }),
      ],
    });
    await apollo.start();

    const httpContext = async (req: IncomingMessage): Promise<Context> => {
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
        clientAddress: req.socket.remoteAddress,
        requestId: typeof req.headers["x-request-id"] === "string" ? req.headers["x-request-id"].slice(0, 100) : undefined,
      });
    };
    const ready = async () => {
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("dependency check timed out")), READY_TIMEOUT_MS).unref(),
      );
      await Promise.race([Promise.all([db.ping(), bus.ping()]), timeout]);
    };
    const explorer = config.explorer ? createExplorer({ demoAccounts: config.seedDemo ? DEMO_ACCOUNTS : [] }) : undefined;
    httpServer.on(
      "request",
      createHttpHandler({
        apollo,
        context: httpContext,
        ready,
        metrics,
        log,
        jwks: () => jwks(tokens.keys),
        explorer: explorer?.handle,
        trustedDocuments: (req, params, context) => {
          const key = req.headers[PARTNER_KEY_HEADER];
          // A failing context (bad token) rejects, and the gate answers with that error.
          return trusted.decide(typeof key === "string" ? key : undefined, params, () => context().then((c) => !!c.viewer && hasRole(c.viewer.role, "STAFF")), "http");
        },
      }),
    );
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    const port = (httpServer.address() as AddressInfo).port;
    const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}/graphql`,
      wsUrl: `ws://${host}:${port}/graphql`,
      port,
      db,
      bus,
      log,
      stop: () =>
        (stopping ??= (async () => {
          await apollo.stop();
          await bus.close();
          redis?.disconnect();
          await db.close();
        })()),
    };
  } catch (error) {
    await bus.close().catch(() => {});
    redis?.disconnect();
    await db.close().catch(() => {});
    throw error;
  }
}

import "reflect-metadata";
import type { Logger } from "pino";
import { LoginLimiter, ExternalTokens, type AccessTokens } from "./auth/index.ts";
import type { Config } from "./config.ts";
import { openDatabase, type Database } from "./db/client.ts";
import { applyMigrations } from "./db/migrate.ts";
import { setTransactionHooks } from "./db/transaction.ts";
import { EventBus } from "./events/bus.ts";
import { OutboxStore } from "./events/outbox.ts";
import { createRedisClient, whenReady, type RedisClient } from "./events/redis-connection.ts";
import { CachePolicies } from "./graphql/cache-policy.ts";
import { OperationLimits } from "./graphql/limits.ts";
import { createSchema } from "./graphql/schema.ts";
import { accessTokensFor } from "./modules/identity/index.ts";
import { createServices, schemaParts, type Services } from "./modules/index.ts";
import { seedIfEmpty } from "./seed/demo.ts";
import { createLogger } from "./server/logger.ts";
import { migrationsOrFail, waitForDatabase } from "./startup.ts";
import { Disposals } from "./app/disposals.ts";
import { startTransports, type TransportParts } from "./app/transports.ts";

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
   * in-flight request answered), then closes the metrics listener, Apollo, the event bus, Redis
   * and the database. Safe to call twice. Rejects when the drain exceeded SHUTDOWN_TIMEOUT (the
   * resources are closed all the same).
   */
  stop(): Promise<void>;
}

const REDIS_CONNECT_WAIT_MS = 3_000;
const REDIS_COMMAND_TIMEOUT_MS = 150;

/**
 * Composition root: signing key -> data -> events -> services -> schema -> transports. Each step
 * adds what it opens to one list, which a stop (or a failed start) closes in reverse order.
 */
export async function startApp(config: Config, log: Logger = createLogger(config.logLevel)): Promise<App> {
  // The key first: a wrong one must stop the start before anything touches the database.
  const tokens = await accessTokensFor(config);
  const disposals = new Disposals();
  try {
    const db = await openData(config, log, disposals);
    const events = await startEvents(config, log, db, disposals);
    const services = await startServices(config, log, { tokens, db, ...events });
    const schema = await buildSchema(config);
    const { port, metricsPort } = await startTransports(config, log, { tokens, db, ...events, services, ...schema }, disposals);
    const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
    return {
      url: `http://${host}:${port}/graphql`,
      wsUrl: `ws://${host}:${port}/graphql`,
      port,
      ...(metricsPort !== undefined && { metricsPort }),
      db,
      bus: events.bus,
      log,
      stop: () => disposals.dispose(),
    };
  } catch (error) {
    await disposals.dispose().catch(() => {});
    throw error;
  }
}

/** Step 1, data: the database, reachable (within DATABASE_CONNECT_TIMEOUT) and migrated. */
async function openData(config: Config, log: Logger, disposals: Disposals): Promise<Database> {
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    owner: "the Cartwheel server",
    poolSize: config.databasePool.size,
    poolTimeoutMs: config.databasePool.timeoutMs,
    preparedStatements: config.databasePool.preparedStatements,
  });
  disposals.add(() => db.close());
  await waitForDatabase(() => db.ping(), config.databaseUrl, config.databaseConnectTimeoutMs, log);
  const applied = await migrationsOrFail(config.databaseUrl, () => applyMigrations(db.sql));
  if (applied.length) log.info({ applied }, "migrations applied");
  return db;
}

/**
 * Step 2, events: the event bus (Redis or in-process) relaying the outbox, and the Redis client
 * for commands (log-in limits, APQ, the response cache). A fresh instance counts log-ins in Redis
 * and publishes from its first request on, unless Redis is away (then it serves anyway;
 * readiness says so).
 */
async function startEvents(config: Config, log: Logger, db: Database, disposals: Disposals): Promise<Pick<TransportParts, "bus" | "redis">> {
  // Never queues while Redis is away: the limiter falls back to memory and the APQ store misses at once.
  // A Redis that is connected but does not answer is given REDIS_COMMAND_TIMEOUT_MS, then the
  // limiter counts in memory and the APQ store misses.
  const redis: RedisClient | undefined = config.redis
    ? createRedisClient(config.redis, { name: "cartwheel:commands", offlineQueue: false, maxRetriesPerRequest: 1, commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS })
    : undefined;
  if (redis) {
    redis.on("error", (error: Error) => log.warn({ err: error.message }, "redis (login limits, APQ cache) connection error"));
    disposals.add(() => redis.disconnect());
  }
  const bus = config.redis ? EventBus.redis(config.redis, config.redisPrefix, log) : EventBus.inProcess(log);
  disposals.add(() => bus.close());
  // Connected before the bus starts on the outbox, as the start expects of a Redis that is up
  // (a start before its subscriber is ready delivers other instances' events late).
  await Promise.all([bus.connected(REDIS_CONNECT_WAIT_MS), redis && whenReady(redis, REDIS_CONNECT_WAIT_MS)]);
  await bus.start(new OutboxStore(db.sql), config.outbox);
  if (process.env.CARTWHEEL_TEST_CRASH_AFTER_COMMIT === "1") {
    // Test hook (test/e2e/outbox.test.ts): die between a commit and its publish, as a crash would.
    setTransactionHooks({ afterCommit: async () => void process.kill(process.pid, "SIGKILL") });
  }
  return { bus, redis };
}

/** Step 3, services: every module's, built once; the demo shop seeded into an empty catalog when SEED_DEMO is on. */
async function startServices(
  config: Config,
  log: Logger,
  { tokens, db, bus, redis }: { tokens: AccessTokens; db: Database } & Pick<TransportParts, "bus" | "redis">,
): Promise<Services> {
  const loginLimiter = new LoginLimiter(config.loginLimits, redis && { redis, prefix: config.redisPrefix }, config.passwordRateLimits);
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
  return services;
}

/** Step 4, schema: the modules' resolvers as one executable schema, with its limits and cache policies. */
async function buildSchema(config: Config): Promise<Pick<TransportParts, "schema" | "limits" | "cachePolicies">> {
  const schema = await createSchema(schemaParts);
  return { schema, limits: new OperationLimits(schema, config.operationLimits), cachePolicies: new CachePolicies(schema) };
}

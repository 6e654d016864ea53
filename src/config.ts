import { resolve } from "node:path";
import { parseDurationMs, parseDurationSeconds } from "./lib/duration.ts";
import { parseRedisUrl, type RedisTarget } from "./lib/redis-url.ts";
import type { OperationLimitsConfig } from "./graphql/limits.ts";
import type { ExecutorKind } from "./server/compiled-executor.ts";

/**
 * The only reader of process.env. Every variable is parsed and validated here; a bad value is
 * named in the error together with every other bad value, so one start shows all of them.
 */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  env: "production" | "development" | "test";
  port: number;
  /** Listen address (default 127.0.0.1 while the demo shop is seeded, whose passwords are public; else 0.0.0.0). */
  host: string;
  /** PostgreSQL URL; undefined selects the embedded PGlite database under dataDir. */
  databaseUrl: string | undefined;
  /** REDIS_URL as given; undefined selects in-process pub/sub (one instance only). */
  redisUrl: string | undefined;
  /**
   * REDIS_URL parsed (lib/redis-url.ts): one server (`redis://`), a Sentinel-watched master
   * (`redis+sentinel://s1:26379,s2:26379/<master>`) or a Cluster (`redis+cluster://n1:6379,n2:6379`);
   * undefined without REDIS_URL.
   */
  redis: RedisTarget | undefined;
  /** Prefix of every Redis channel and key, so several deployments can share one Redis. */
  redisPrefix: string;
  dataDir: string;
  logLevel: LogLevel;
  /**
   * Where /metrics is served. `port` (METRICS_PORT): its own listener on that port (same HOST),
   * and the API port answers 404 there; undefined (default) keeps it on the API port. `token`
   * (METRICS_TOKEN, at least 16 characters): scrapes must send `Authorization: Bearer <token>`
   * (401 otherwise), on whichever port; undefined (default): no token asked.
   */
  metrics: { port: number | undefined; token: string | undefined };
  /** The signing key, PKCS#8 PEM or private JWK (ES256 or EdDSA); undefined outside production means "generate under dataDir". */
  jwtPrivateKey: string | undefined;
  /** Previous keys still accepted for verification (JWKS/JWK JSON or PEM public keys). */
  jwtVerifyKeys: string | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Seed the demo shop into an empty database at start (default: on for the embedded database). */
  seedDemo: boolean;
  /** Failed log-ins allowed per account and per client address within the window. */
  loginLimits: { perAccount: number; perAddress: number; windowSeconds: number };
  /** Anonymous mutations that hash a password (signUp, logIn): attempts per client address within the window, whatever their outcome. */
  passwordRateLimits: { signUpPerAddress: number; logInPerAddress: number; windowSeconds: number };
  /** Proxies in front of the server whose X-Forwarded-For entries are trusted for the client address (TRUST_PROXY, default 0). */
  trustProxyHops: number;
  /** Depth, alias, token, directive and cost limits of every operation; introspection on or off. */
  operationLimits: OperationLimitsConfig;
  /**
   * How queries and mutations over HTTP execute: compiled by graphql-jit (GRAPHQL_EXECUTOR=jit, the
   * default) or by graphql-js (`graphql-js`); subscriptions (WebSocket, SSE) always use graphql-js.
   * `maxCompiledDocuments` (GRAPHQL_JIT_CACHE_SIZE, default 500) bounds the compiled documents kept.
   */
  graphqlExecutor: { kind: ExecutorKind; maxCompiledDocuments: number };
  /** Leave "Did you mean …?" suggestions out of error messages (on when NODE_ENV=production). */
  hideSchemaSuggestions: boolean;
  /** An external OpenID Connect provider whose access tokens are accepted; undefined when not configured. */
  oidc: { issuer: string; audience: string; jwksUrl: string; algorithms: string[] } | undefined;
  /**
   * How the hot catalog reads run: "compiled" (default), one SQL statement built from each
   * operation's selection; "general", through the per-request loaders (kept to compare the two).
   */
  catalogReads: "direct" | "compiled" | "general";
  /** Serve the GraphiQL explorer to browsers at GET /graphql (default: on, off when NODE_ENV=production). */
  explorer: boolean;
  /**
   * Origins whose pages may call /graphql (CORS): "*" for any (never with credentials) or a list
   * of origins; an empty list means same origin only. Default "*", [] when NODE_ENV=production.
   */
  corsOrigins: "*" | string[];
  /** Persisted queries: APQ for everyone; partner keys and trusted-documents mode (see server/persisted). */
  persistedQueries: {
    /** Accept Automatic Persisted Queries (default true); cached in Redis when REDIS_URL is set. */
    apq: boolean;
    /** Seconds a registered APQ document is kept (default 1 day). */
    apqTtlSeconds: number;
    /** JSON file naming the partner keys (as sha256) and each partner's manifest; undefined: no partners. */
    partnersFile: string | undefined;
    /** Require manifest operations from every request that is not staff (default false). */
    trustedDocumentsOnly: boolean;
    /** The manifest used by trustedDocumentsOnly for non-partner traffic (default: codegen's). */
    manifest: string;
  };
  /**
   * The shared response cache of public catalog operations (server/response-cache.ts): in Redis
   * when REDIS_URL is set, in memory otherwise. RESPONSE_CACHE, default on.
   */
  responseCache: boolean;
  /** Start-up keeps retrying an unreachable DATABASE_URL this long, then exits 69 (default 30 s). */
  databaseConnectTimeoutMs: number;
  /** Bounded WebSocket delivery: unsent bytes per socket before events are held back, and how long a socket may stay behind. */
  websocket: { maxBufferedBytes: number; backlogTimeoutMs: number };
  /**
   * PostgreSQL connections per instance (DATABASE_POOL_SIZE, default 10), how long a query waits
   * for one (DATABASE_POOL_TIMEOUT, default 5 s), and whether catalog reads may be named prepared
   * statements (DATABASE_PREPARED_STATEMENTS, default true; off behind poolers without them).
   */
  databasePool: { size: number; timeoutMs: number; preparedStatements: boolean };
  /** Graceful shutdown on SIGTERM/SIGINT (see server/shutdown.ts). */
  shutdown: {
    /** Readiness answers 503 while requests are still served, before the listener closes (default 5 s). */
    delayMs: number;
    /** Ceiling for in-flight requests and WebSocket closes after the delay; then they are cut and the exit code is 1 (default 30 s). */
    timeoutMs: number;
  };
  /** The transactional outbox (src/events/bus.ts). */
  outbox: {
    /** How long events stay replayable for `after` / Last-Event-ID (OUTBOX_RETENTION, default 24 h); older cursors get CURSOR_EXPIRED. */
    retentionMs: number;
    /** How long a committed event may go unpublished before the relay publishes it (OUTBOX_RELAY_GRACE, default 500 ms). */
    graceMs: number;
  };
  /**
   * OpenTelemetry tracing (src/tracing): on when OTEL_EXPORTER_OTLP_ENDPOINT is set (and
   * OTEL_SDK_DISABLED is not true); off otherwise, and then no part of the SDK is loaded. The SDK
   * reads its other OTEL_* variables itself (protocol, headers, sampler, resource attributes).
   */
  tracing: {
    /** OTLP base URL (http or https); undefined: tracing off. */
    endpoint: string | undefined;
    /** service.name of every span (OTEL_SERVICE_NAME, default "cartwheel"). */
    serviceName: string;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

const LOG_LEVELS: LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };

  const nodeEnv = text("NODE_ENV") ?? "development";
  if (!["production", "development", "test"].includes(nodeEnv)) {
    problems.push(`NODE_ENV must be production, development or test (got "${nodeEnv}")`);
  }
  const production = nodeEnv === "production";

  const portText = text("PORT") ?? "4000";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) problems.push(`PORT must be an integer 0..65535 (got "${portText}")`);

  const url = (name: string, protocols: string[]): string | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        problems.push(`${name} must use ${protocols.join(" or ")} (got "${parsed.protocol}")`);
      }
    } catch {
      problems.push(`${name} is not a valid URL`);
    }
    return value;
  };
  const databaseUrl = url("DATABASE_URL", ["postgres:", "postgresql:"]);
  const redisUrl = text("REDIS_URL");
  const parsedRedis = redisUrl === undefined ? undefined : parseRedisUrl(redisUrl);
  if (parsedRedis?.problem) problems.push(`REDIS_URL ${parsedRedis.problem}`);

  const logLevel = (text("LOG_LEVEL") ?? (nodeEnv === "test" ? "silent" : "info")) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")} (got "${logLevel}")`);

  const metricsPortText = text("METRICS_PORT");
  const metricsPort = metricsPortText === undefined ? undefined : Number(metricsPortText);
  if (metricsPortText !== undefined && (!/^\d+$/.test(metricsPortText) || metricsPort! > 65_535)) {
    problems.push(`METRICS_PORT must be an integer 0..65535 (got "${metricsPortText}")`);
  } else if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
    problems.push(`METRICS_PORT must differ from PORT (both ${port})`);
  }
  const metricsToken = text("METRICS_TOKEN");
  if (metricsToken !== undefined && (metricsToken.length < 16 || /\s/.test(metricsToken))) {
    problems.push("METRICS_TOKEN must be at least 16 characters without spaces");
  }

  const jwtPrivateKey = text("JWT_PRIVATE_KEY")?.replace(/\\n/g, "\n");
  if (jwtPrivateKey && !jwtPrivateKey.includes("-----BEGIN PRIVATE KEY-----") && !/^\{[\s\S]*"d"[\s\S]*\}$/.test(jwtPrivateKey)) {
    problems.push("JWT_PRIVATE_KEY must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) or a private JWK, ES256 or EdDSA");
  }
  const jwtVerifyKeys = text("JWT_VERIFY_KEYS")?.replace(/\\n/g, "\n");
  if (production && !jwtPrivateKey) problems.push("JWT_PRIVATE_KEY is required when NODE_ENV=production");

  const duration = (name: string, fallback: string): number => {
    const raw = text(name) ?? fallback;
    const seconds = parseDurationSeconds(raw);
    if (seconds === undefined) {
      problems.push(`${name} must be seconds or a duration such as 15m, 12h, 30d (got "${raw}")`);
      return 0;
    }
    return seconds;
  };
  const accessTokenTtlSeconds = duration("ACCESS_TOKEN_TTL", "15m");
  const refreshTokenTtlSeconds = duration("REFRESH_TOKEN_TTL", "30d");

  const flag = (name: string, fallback: boolean): boolean => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    if (!["true", "false", "1", "0"].includes(raw)) {
      problems.push(`${name} must be true or false (got "${raw}")`);
      return fallback;
    }
    return raw === "true" || raw === "1";
  };
  const seedDemo = flag("SEED_DEMO", databaseUrl === undefined);
  if (production && seedDemo) problems.push("SEED_DEMO must not be enabled when NODE_ENV=production (demo passwords are public)");

  const count = (name: string, fallback: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) {
      problems.push(`${name} must be a whole number of at least 1 (got "${raw}")`);
      return fallback;
    }
    return Number(raw);
  };
  const loginLimits = {
    perAccount: count("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
    perAddress: count("LOGIN_MAX_FAILURES_PER_ADDRESS", 50),
    windowSeconds: duration("LOGIN_FAILURE_WINDOW", "1m"),
  };

  const passwordRateLimits = {
    signUpPerAddress: count("SIGNUP_MAX_PER_ADDRESS", 20),
    logInPerAddress: count("LOGIN_MAX_ATTEMPTS_PER_ADDRESS", 300),
    windowSeconds: duration("PASSWORD_RATE_WINDOW", "15m"),
  };
  const trustProxyText = text("TRUST_PROXY") ?? "0";
  const trustProxyHops = Number(trustProxyText);
  if (!/^\d+$/.test(trustProxyText) || trustProxyHops > 10) problems.push(`TRUST_PROXY must be the number of proxies in front of the server, 0 to 10 (got "${trustProxyText}")`);
  const operationLimits: OperationLimitsConfig = {
    maxDepth: count("MAX_DEPTH", 10),
    maxAliases: count("MAX_ALIASES", 15),
    maxTokens: count("MAX_TOKENS", 2_000),
    maxDirectives: count("MAX_DIRECTIVES", 50),
    costLimit: count("COST_LIMIT", 10_000),
    costLimitStaff: count("COST_LIMIT_STAFF", 50_000),
    costLimitPartner: count("COST_LIMIT_PARTNER", 50_000),
    introspection: flag("INTROSPECTION", !production),
  };

  const catalogReads = text("CATALOG_READS") ?? "direct";
  if (catalogReads !== "direct" && catalogReads !== "compiled" && catalogReads !== "general") problems.push(`CATALOG_READS must be "direct", "compiled" or "general" (got "${catalogReads}")`);
  const otelEndpoint = url("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  const tracing = { endpoint: flag("OTEL_SDK_DISABLED", false) ? undefined : otelEndpoint, serviceName: text("OTEL_SERVICE_NAME") ?? "cartwheel" };
  // The graphql instrumentation hooks graphql-js's execute: jit's compiled code would run outside its spans.
  const executorKind = text("GRAPHQL_EXECUTOR") ?? (tracing.endpoint ? "graphql-js" : "jit");
  if (executorKind !== "jit" && executorKind !== "graphql-js") problems.push(`GRAPHQL_EXECUTOR must be jit or graphql-js (got "${executorKind}")`);
  const graphqlExecutor = { kind: executorKind as ExecutorKind, maxCompiledDocuments: count("GRAPHQL_JIT_CACHE_SIZE", 500) };
  if (graphqlExecutor.maxCompiledDocuments > 100_000) problems.push(`GRAPHQL_JIT_CACHE_SIZE must be at most 100000 (got ${graphqlExecutor.maxCompiledDocuments})`);

  const oidcIssuer = text("OIDC_ISSUER");
  const oidcAudience = text("OIDC_AUDIENCE");
  const oidcJwksUrl = url("OIDC_JWKS_URL", ["https:", "http:"]);
  const oidcSet = [oidcIssuer, oidcAudience, oidcJwksUrl].filter((v) => v !== undefined).length;
  if (oidcSet !== 0 && oidcSet !== 3) problems.push("OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL must be set together");
  const ALLOWED_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
  const oidcAlgorithms = (text("OIDC_ALGORITHMS") ?? "RS256,ES256").split(",").map((a) => a.trim()).filter(Boolean);
  const badAlgs = oidcAlgorithms.filter((a) => !ALLOWED_ALGS.includes(a));
  if (badAlgs.length) problems.push(`OIDC_ALGORITHMS may only list asymmetric algorithms ${ALLOWED_ALGS.join(", ")} (got ${badAlgs.join(", ")})`);
  if (oidcIssuer && oidcIssuer === (text("JWT_ISSUER") ?? "cartwheel")) problems.push("OIDC_ISSUER must differ from JWT_ISSUER");

  const explorer = flag("EXPLORER", !production);
  const corsOrigins = origins("CORS_ORIGINS", text("CORS_ORIGINS"), production ? [] : "*", problems);
  const persistedQueries = {
    apq: flag("APQ", true),
    apqTtlSeconds: duration("APQ_TTL", "1d"),
    partnersFile: text("PARTNERS_FILE") ? resolve(text("PARTNERS_FILE")!) : undefined,
    trustedDocumentsOnly: flag("TRUSTED_DOCUMENTS_ONLY", false),
    manifest: resolve(text("TRUSTED_DOCUMENTS_MANIFEST") ?? "client/generated/persisted-documents.json"),
  };

  const responseCache = flag("RESPONSE_CACHE", true);

  const millis = (name: string, fallback: string): number => {
    const raw = text(name) ?? fallback;
    const ms = parseDurationMs(raw);
    if (ms === undefined) problems.push(`${name} must be seconds or a duration such as 0, 500ms, 5s, 1m (got "${raw}")`);
    return ms ?? 0;
  };
  const databaseConnectTimeoutMs = millis("DATABASE_CONNECT_TIMEOUT", "30s");
  const websocket = { maxBufferedBytes: count("WS_MAX_BUFFERED_BYTES", 1024 * 1024), backlogTimeoutMs: millis("WS_BACKLOG_TIMEOUT", "10s") };
  const databasePool = {
    size: count("DATABASE_POOL_SIZE", 10),
    timeoutMs: millis("DATABASE_POOL_TIMEOUT", "5s"),
    preparedStatements: flag("DATABASE_PREPARED_STATEMENTS", true),
  };
  if (databasePool.size > 1_000) problems.push(`DATABASE_POOL_SIZE must be at most 1000 (got ${databasePool.size})`);
  if (databasePool.timeoutMs === 0 && text("DATABASE_POOL_TIMEOUT") !== undefined) problems.push("DATABASE_POOL_TIMEOUT must be above 0 (pg would wait forever)");
  const shutdown = { delayMs: millis("SHUTDOWN_DELAY", "5s"), timeoutMs: millis("SHUTDOWN_TIMEOUT", "30s") };
  const outbox = { retentionMs: millis("OUTBOX_RETENTION", "24h"), graceMs: millis("OUTBOX_RELAY_GRACE", "500ms") };
  if (outbox.retentionMs < 1_000 && text("OUTBOX_RETENTION") !== undefined) problems.push("OUTBOX_RETENTION must be at least 1s");
  if (outbox.graceMs < 50 && text("OUTBOX_RELAY_GRACE") !== undefined) problems.push("OUTBOX_RELAY_GRACE must be at least 50ms");

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    env: nodeEnv as Config["env"],
    port,
    // The demo accounts' passwords are public: with them seeded, listen on this machine only unless told otherwise.
    host: text("HOST") ?? (seedDemo ? "127.0.0.1" : "0.0.0.0"),
    databaseUrl,
    redisUrl,
    redis: parsedRedis?.target,
    redisPrefix: text("REDIS_PREFIX") ?? "cartwheel:",
    dataDir: resolve(text("DATA_DIR") ?? ".data"),
    logLevel,
    metrics: { port: metricsPort, token: metricsToken },
    jwtPrivateKey,
    jwtVerifyKeys,
    jwtIssuer: text("JWT_ISSUER") ?? "cartwheel",
    jwtAudience: text("JWT_AUDIENCE") ?? "cartwheel",
    accessTokenTtlSeconds,
    refreshTokenTtlSeconds,
    seedDemo,
    loginLimits,
    passwordRateLimits,
    trustProxyHops,
    operationLimits,
    graphqlExecutor,
    hideSchemaSuggestions: production,
    oidc: oidcSet === 3 ? { issuer: oidcIssuer!, audience: oidcAudience!, jwksUrl: oidcJwksUrl!, algorithms: oidcAlgorithms } : undefined,
    catalogReads: catalogReads as Config["catalogReads"],
    explorer,
    corsOrigins,
    persistedQueries,
    responseCache,
    databaseConnectTimeoutMs,
    databasePool,
    websocket,
    shutdown,
    outbox,
    tracing,
  };
}

/** `*`, or a comma list of origins exactly as browsers send them (scheme://host[:port], lower case, no path). */
function origins(name: string, raw: string | undefined, fallback: "*" | string[], problems: string[]): "*" | string[] {
  if (raw === undefined) return fallback;
  if (raw === "*") return "*";
  const list = raw.split(",").map((o) => o.trim()).filter(Boolean);
  const bad = list.filter((o) => {
    try {
      const url = new URL(o);
      return !["http:", "https:"].includes(url.protocol) || url.origin !== o;
    } catch {
      return true;
    }
  });
  if (bad.length || list.length === 0) {
    problems.push(`${name} must be * or a comma list of origins like https://shop.example.com (got ${bad.map((o) => `"${o}"`).join(", ") || `"${raw}"`})`);
  }
  return list;
}

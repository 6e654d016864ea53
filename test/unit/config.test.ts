import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { parseDurationMs, parseDurationSeconds } from "../../src/lib/duration.ts";

describe("config", () => {
  it("defaults to the embedded database, in-process pub/sub and demo seeding", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 4000, databaseUrl: undefined, redisUrl: undefined, seedDemo: true, accessTokenTtlSeconds: 900 });
    expect(loadConfig({ DATABASE_URL: "postgresql://x@localhost/db" }).seedDemo).toBe(false);
  });

  it("listens on loopback only while the demo accounts (public passwords) are seeded, else on every interface", () => {
    expect(loadConfig({}).host).toBe("127.0.0.1");
    expect(loadConfig({ SEED_DEMO: "false" }).host).toBe("0.0.0.0");
    expect(loadConfig({ DATABASE_URL: "postgresql://x@localhost/db" }).host).toBe("0.0.0.0");
    expect(loadConfig({ DATABASE_URL: "postgresql://x@localhost/db", SEED_DEMO: "true" }).host).toBe("127.0.0.1");
    expect(loadConfig({ HOST: "0.0.0.0" }).host).toBe("0.0.0.0");
  });

  it("outbox retention and relay grace: defaults, durations, and too-small values refused", () => {
    expect(loadConfig({}).outbox).toEqual({ retentionMs: 86_400_000, graceMs: 500 });
    expect(loadConfig({ OUTBOX_RETENTION: "7d", OUTBOX_RELAY_GRACE: "2s" }).outbox).toEqual({ retentionMs: 7 * 86_400_000, graceMs: 2_000 });
    expect(() => loadConfig({ OUTBOX_RETENTION: "500ms" })).toThrow(/OUTBOX_RETENTION must be at least 1s/);
    expect(() => loadConfig({ OUTBOX_RETENTION: "forever" })).toThrow(/OUTBOX_RETENTION/);
    expect(() => loadConfig({ OUTBOX_RELAY_GRACE: "10ms" })).toThrow(/OUTBOX_RELAY_GRACE must be at least 50ms/);
  });

  it("metrics: on the API port without a token by default; METRICS_PORT and METRICS_TOKEN checked", () => {
    expect(loadConfig({}).metrics).toEqual({ port: undefined, token: undefined });
    expect(loadConfig({ METRICS_PORT: "9464", METRICS_TOKEN: "0123456789abcdef" }).metrics).toEqual({ port: 9464, token: "0123456789abcdef" });
    expect(() => loadConfig({ METRICS_PORT: "http" })).toThrow(/METRICS_PORT must be an integer/);
    expect(() => loadConfig({ METRICS_PORT: "70000" })).toThrow(/METRICS_PORT must be an integer/);
    expect(() => loadConfig({ PORT: "4000", METRICS_PORT: "4000" })).toThrow(/METRICS_PORT must differ from PORT/);
    expect(() => loadConfig({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN must be at least 16 characters/);
  });

  it("names every bad variable at once", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "http", DATABASE_URL: "mysql://x", REDIS_URL: "nope", LOG_LEVEL: "loud", ACCESS_TOKEN_TTL: "soon", JWT_PRIVATE_KEY: "secret" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).problems.join("\n");
    for (const name of ["PORT", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL", "ACCESS_TOKEN_TTL", "JWT_PRIVATE_KEY"]) expect(text).toContain(name);
  });

  it("refuses production without a signing key or with demo seeding", () => {
    expect(() => loadConfig({ NODE_ENV: "production", DATABASE_URL: "postgresql://x@localhost/db" })).toThrow(/JWT_PRIVATE_KEY is required/);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/SEED_DEMO must not be enabled/);
  });

  it("external OIDC needs issuer, audience and JWKS URL together, and asymmetric algorithms only", () => {
    const oidc = { OIDC_ISSUER: "https://idp.example", OIDC_AUDIENCE: "api", OIDC_JWKS_URL: "https://idp.example/jwks" };
    expect(loadConfig(oidc).oidc).toEqual({ issuer: "https://idp.example", audience: "api", jwksUrl: "https://idp.example/jwks", algorithms: ["RS256", "ES256"] });
    expect(loadConfig({}).oidc).toBeUndefined();
    expect(() => loadConfig({ OIDC_ISSUER: "https://idp.example" })).toThrow(/must be set together/);
    expect(() => loadConfig({ ...oidc, OIDC_ALGORITHMS: "RS256,HS256" })).toThrow(/OIDC_ALGORITHMS.*HS256/);
    expect(() => loadConfig({ ...oidc, OIDC_ISSUER: "cartwheel" })).toThrow(/must differ from JWT_ISSUER/);
  });

  it("log-in limits default to 5 per account and 50 per address a minute", () => {
    expect(loadConfig({}).loginLimits).toEqual({ perAccount: 5, perAddress: 50, windowSeconds: 60 });
    expect(loadConfig({ LOGIN_MAX_FAILURES_PER_ACCOUNT: "3", LOGIN_FAILURE_WINDOW: "10m" }).loginLimits).toMatchObject({ perAccount: 3, windowSeconds: 600 });
    expect(() => loadConfig({ LOGIN_MAX_FAILURES_PER_ADDRESS: "0" })).toThrow(/LOGIN_MAX_FAILURES_PER_ADDRESS/);
  });

  it("explorer on except in production; APQ on; partners and trusted-documents mode off unless configured", () => {
    const dev = loadConfig({});
    expect(dev.explorer).toBe(true);
    expect(dev.persistedQueries).toMatchObject({ apq: true, apqTtlSeconds: 86_400, partnersFile: undefined, trustedDocumentsOnly: false });
    const prod = loadConfig({ NODE_ENV: "production", DATABASE_URL: "postgresql://x@localhost/db", JWT_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----x" });
    expect(prod.explorer).toBe(false);
    expect(loadConfig({ EXPLORER: "false" }).explorer).toBe(false);
    expect(() => loadConfig({ EXPLORER: "maybe", TRUSTED_DOCUMENTS_ONLY: "yes", APQ_TTL: "forever" })).toThrow(
      /EXPLORER must be true or false[\s\S]*APQ_TTL[\s\S]*TRUSTED_DOCUMENTS_ONLY must be true or false/,
    );
  });

  it("operation limits, password rate limits and introspection: defaults, overrides, bad values", () => {
    const dev = loadConfig({});
    expect(dev.operationLimits).toEqual({
      maxDepth: 10,
      maxAliases: 15,
      maxTokens: 2_000,
      maxDirectives: 50,
      costLimit: 10_000,
      costLimitStaff: 50_000,
      costLimitPartner: 50_000,
      introspection: true,
    });
    expect(dev.hideSchemaSuggestions).toBe(false);
    expect(dev.passwordRateLimits).toEqual({ signUpPerAddress: 20, logInPerAddress: 300, windowSeconds: 900 });
    const prodEnv = { NODE_ENV: "production", DATABASE_URL: "postgresql://x@localhost/db", JWT_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----x" };
    expect(loadConfig(prodEnv)).toMatchObject({ operationLimits: { introspection: false }, hideSchemaSuggestions: true });
    expect(loadConfig({ ...prodEnv, INTROSPECTION: "true" }).operationLimits.introspection).toBe(true);
    expect(loadConfig({ MAX_DEPTH: "4", COST_LIMIT: "500", SIGNUP_MAX_PER_ADDRESS: "2" })).toMatchObject({
      operationLimits: { maxDepth: 4, costLimit: 500 },
      passwordRateLimits: { signUpPerAddress: 2 },
    });
    expect(() => loadConfig({ MAX_ALIASES: "0", COST_LIMIT: "lots", INTROSPECTION: "sometimes" })).toThrow(/MAX_ALIASES[\s\S]*COST_LIMIT[\s\S]*INTROSPECTION/);
  });

  it("CORS: any origin (no credentials) by default, same origin only in production, or a validated list", () => {
    const prod = { NODE_ENV: "production", DATABASE_URL: "postgresql://x@localhost/db", JWT_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----x" };
    expect(loadConfig({}).corsOrigins).toBe("*");
    expect(loadConfig(prod).corsOrigins).toEqual([]);
    expect(loadConfig({ ...prod, CORS_ORIGINS: "*" }).corsOrigins).toBe("*");
    expect(loadConfig({ CORS_ORIGINS: " https://shop.example.com , http://127.0.0.1:5173 " }).corsOrigins).toEqual(["https://shop.example.com", "http://127.0.0.1:5173"]);
    for (const bad of ["https://shop.example.com/", "https://shop.example.com/app", "shop.example.com", "ftp://files.example.com", "https://Shop.example.com", "*,https://a.example", ","]) {
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS must be \* or a comma list of origins/);
    }
  });

  it("GRAPHQL_EXECUTOR: jit with 500 compiled documents by default; graphql-js on request; both validated", () => {
    expect(loadConfig({}).graphqlExecutor).toEqual({ kind: "jit", maxCompiledDocuments: 500 });
    expect(loadConfig({ GRAPHQL_EXECUTOR: "graphql-js", GRAPHQL_JIT_CACHE_SIZE: "50" }).graphqlExecutor).toEqual({ kind: "graphql-js", maxCompiledDocuments: 50 });
    for (const bad of ["JIT", "graphql", "yes"]) expect(() => loadConfig({ GRAPHQL_EXECUTOR: bad })).toThrow(/GRAPHQL_EXECUTOR must be jit or graphql-js/);
    for (const bad of ["0", "many", "100001"]) expect(() => loadConfig({ GRAPHQL_JIT_CACHE_SIZE: bad })).toThrow(/GRAPHQL_JIT_CACHE_SIZE must be/);
  });

  it("TRUST_PROXY: 0 by default, a small hop count otherwise", () => {
    expect(loadConfig({}).trustProxyHops).toBe(0);
    expect(loadConfig({ TRUST_PROXY: "2" }).trustProxyHops).toBe(2);
    for (const bad of ["yes", "-1", "11"]) expect(() => loadConfig({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY must be/);
  });

  it("database pool: 10 connections and a 5 s wait by default, both settable and validated", () => {
    expect(loadConfig({}).databasePool).toEqual({ size: 10, timeoutMs: 5_000, preparedStatements: true });
    expect(loadConfig({ DATABASE_POOL_SIZE: "40", DATABASE_POOL_TIMEOUT: "500ms", DATABASE_PREPARED_STATEMENTS: "false" }).databasePool).toEqual({ size: 40, timeoutMs: 500, preparedStatements: false });
    expect(() => loadConfig({ DATABASE_POOL_SIZE: "0", DATABASE_POOL_TIMEOUT: "0" })).toThrow(/DATABASE_POOL_SIZE[\s\S]*DATABASE_POOL_TIMEOUT/);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: "5000" })).toThrow(/DATABASE_POOL_SIZE must be at most 1000/);
  });

  it("WebSocket delivery bounds: 1 MiB of unsent data per socket, 10 s behind at most", () => {
    expect(loadConfig({}).websocket).toEqual({ maxBufferedBytes: 1_048_576, backlogTimeoutMs: 10_000 });
    expect(loadConfig({ WS_MAX_BUFFERED_BYTES: "65536", WS_BACKLOG_TIMEOUT: "2s" }).websocket).toEqual({ maxBufferedBytes: 65_536, backlogTimeoutMs: 2_000 });
    expect(() => loadConfig({ WS_MAX_BUFFERED_BYTES: "lots", WS_BACKLOG_TIMEOUT: "soon" })).toThrow(/WS_MAX_BUFFERED_BYTES[\s\S]*WS_BACKLOG_TIMEOUT/);
  });

  it("parses durations", () => {
    expect(parseDurationSeconds("15m")).toBe(900);
    expect(parseDurationSeconds("900")).toBe(900);
    expect(parseDurationSeconds("2h")).toBe(7200);
    expect(parseDurationSeconds("0")).toBeUndefined();
    expect(parseDurationSeconds("1w")).toBeUndefined();
  });

  it("shutdown waits 5 s then gives requests 30 s; start-up retries the database for 30 s; 0 and ms allowed", () => {
    expect(loadConfig({}).shutdown).toEqual({ delayMs: 5_000, timeoutMs: 30_000 });
    expect(loadConfig({}).databaseConnectTimeoutMs).toBe(30_000);
    expect(loadConfig({ SHUTDOWN_DELAY: "0", SHUTDOWN_TIMEOUT: "1m", DATABASE_CONNECT_TIMEOUT: "500ms" })).toMatchObject({
      shutdown: { delayMs: 0, timeoutMs: 60_000 },
      databaseConnectTimeoutMs: 500,
    });
    expect(parseDurationMs("5")).toBe(5_000);
    expect(() => loadConfig({ SHUTDOWN_DELAY: "-1", SHUTDOWN_TIMEOUT: "soon" })).toThrow(/SHUTDOWN_DELAY[\s\S]*SHUTDOWN_TIMEOUT/);
  });
});

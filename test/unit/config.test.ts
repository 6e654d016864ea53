import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { parseDurationSeconds } from "../../src/lib/duration.ts";

describe("config", () => {
  it("defaults to the embedded database, in-process pub/sub and demo seeding", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 4000, databaseUrl: undefined, redisUrl: undefined, seedDemo: true, accessTokenTtlSeconds: 900 });
    expect(loadConfig({ DATABASE_URL: "postgresql://x@localhost/db" }).seedDemo).toBe(false);
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

  it("parses durations", () => {
    expect(parseDurationSeconds("15m")).toBe(900);
    expect(parseDurationSeconds("900")).toBe(900);
    expect(parseDurationSeconds("2h")).toBe(7200);
    expect(parseDurationSeconds("0")).toBeUndefined();
    expect(parseDurationSeconds("1w")).toBeUndefined();
  });
});

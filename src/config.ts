import { resolve } from "node:path";
import { parseDurationSeconds } from "./lib/duration.ts";

/**
 * The only reader of process.env. Every variable is parsed and validated here; a bad value is
 * named in the error together with every other bad value, so one start shows all of them.
 */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  env: "production" | "development" | "test";
  port: number;
  host: string;
  /** PostgreSQL URL; undefined selects the embedded PGlite database under dataDir. */
  databaseUrl: string | undefined;
  /** Redis URL; undefined selects in-process pub/sub (one instance only). */
  redisUrl: string | undefined;
  /** Prefix of every Redis channel and key, so several deployments can share one Redis. */
  redisPrefix: string;
  dataDir: string;
  logLevel: LogLevel;
  /** PKCS#8 PEM (ES256 or EdDSA); undefined outside production means "generate under dataDir". */
  jwtPrivateKey: string | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Seed the demo shop into an empty database at start (default: on for the embedded database). */
  seedDemo: boolean;
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
  const redisUrl = url("REDIS_URL", ["redis:", "rediss:"]);

  const logLevel = (text("LOG_LEVEL") ?? (nodeEnv === "test" ? "silent" : "info")) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")} (got "${logLevel}")`);

  const jwtPrivateKey = text("JWT_PRIVATE_KEY")?.replace(/\\n/g, "\n");
  if (jwtPrivateKey && !jwtPrivateKey.includes("-----BEGIN PRIVATE KEY-----")) {
    problems.push("JWT_PRIVATE_KEY must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----), ES256 or EdDSA");
  }
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

  const seedText = text("SEED_DEMO");
  if (seedText !== undefined && !["true", "false", "1", "0"].includes(seedText)) {
    problems.push(`SEED_DEMO must be true or false (got "${seedText}")`);
  }
  const seedDemo = seedText === undefined ? databaseUrl === undefined : seedText === "true" || seedText === "1";
  if (production && seedDemo) problems.push("SEED_DEMO must not be enabled when NODE_ENV=production (demo passwords are public)");

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    env: nodeEnv as Config["env"],
    port,
    host: text("HOST") ?? "0.0.0.0",
    databaseUrl,
    redisUrl,
    redisPrefix: text("REDIS_PREFIX") ?? "cartwheel:",
    dataDir: resolve(text("DATA_DIR") ?? ".data"),
    logLevel,
    jwtPrivateKey,
    jwtIssuer: text("JWT_ISSUER") ?? "cartwheel",
    jwtAudience: text("JWT_AUDIENCE") ?? "cartwheel",
    accessTokenTtlSeconds,
    refreshTokenTtlSeconds,
    seedDemo,
  };
}

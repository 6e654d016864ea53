import type { RedisClient } from "../events/redis-connection.ts";
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";

export interface LoginLimits {
  /** Failed attempts per account within `windowSeconds` before further attempts are refused (default 5). */
  perAccount: number;
  /** Failed attempts per client address within `windowSeconds` (default 50). */
  perAddress: number;
  windowSeconds: number;
}

/** Attempts per client address of the anonymous operations that hash a password, whatever their outcome. */
export interface PasswordRateLimits {
  signUpPerAddress: number;
  logInPerAddress: number;
  windowSeconds: number;
}

/** Seconds until the caller may try again, when an attempt is refused. */
export class TooManyAttempts extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super("too many failed attempts");
  }
}

/**
 * Counts failed log-ins per account and per client address, in Redis when given (shared by every
 * instance) or in this process otherwise. Only failures count; a success clears the account's count.
 */
export class LoginLimiter {
  private readonly account: RateLimiterAbstract;
  private readonly address: RateLimiterAbstract;
  private readonly attempts: Record<"signUp" | "logIn", RateLimiterAbstract> | undefined;

  constructor(limits: LoginLimits, store?: { redis: RedisClient; prefix: string }, attempts?: PasswordRateLimits) {
    const make = (points: number, keyPrefix: string, duration = limits.windowSeconds) => {
      const memory = new RateLimiterMemory({ keyPrefix, points, duration });
      // While Redis is unreachable, counting goes on in this process rather than failing log-ins,
      // and at once: a client that is not connected is not waited for.
      return store
        ? new RateLimiterRedis({
            storeClient: store.redis,
            keyPrefix: `${store.prefix}${keyPrefix}`,
            points,
            duration,
            insuranceLimiter: memory,
            rejectIfRedisNotReady: true,
          })
        : memory;
    };
    this.account = make(limits.perAccount, "login-fail-account");
    this.address = make(limits.perAddress, "login-fail-address");
    this.attempts = attempts && {
      signUp: make(attempts.signUpPerAddress, "signup-address", attempts.windowSeconds),
      logIn: make(attempts.logInPerAddress, "login-address", attempts.windowSeconds),
    };
  }

  /**
   * Counts one attempt of `kind` from `address`; throws TooManyAttempts once the address has used
   * its attempts for the window. Every attempt counts, successful or not: each one hashes a password.
   */
  async attempt(kind: "signUp" | "logIn", address: string | undefined): Promise<void> {
    const limiter = this.attempts?.[kind];
    if (!limiter || !address) return;
    try {
      await limiter.consume(address);
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      throw new TooManyAttempts(Math.max(1, Math.ceil((rejection as { msBeforeNext: number }).msBeforeNext / 1000)));
    }
  }

  /** Throws TooManyAttempts when either counter is used up; counts nothing. */
  async check(account: string, address: string | undefined): Promise<void> {
    const checks: [RateLimiterAbstract, string][] = [[this.account, account]];
    if (address) checks.push([this.address, address]);
    for (const [limiter, key] of checks) {
      const state = await limiter.get(key);
      if (state && state.consumedPoints >= limiter.points) throw new TooManyAttempts(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
    }
  }

  async failed(account: string, address: string | undefined): Promise<void> {
    // consume() rejects once the points are used up; the next check() refuses, nothing else to do.
    await Promise.all([this.account.consume(account).catch(() => {}), address ? this.address.consume(address).catch(() => {}) : undefined]);
  }

  async succeeded(account: string): Promise<void> {
    await this.account.delete(account);
  }
}

import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";

export interface LoginLimits {
  /** Failed attempts per account within `windowSeconds` before further attempts are refused (default 5). */
  perAccount: number;
  /** Failed attempts per client address within `windowSeconds` (default 50). */
  perAddress: number;
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

  constructor(limits: LoginLimits, store?: { redis: Redis; prefix: string }) {
    const make = (points: number, keyPrefix: string) => {
      const memory = new RateLimiterMemory({ keyPrefix, points, duration: limits.windowSeconds });
      // While Redis is unreachable, counting goes on in this process rather than failing log-ins.
      return store
        ? new RateLimiterRedis({
            storeClient: store.redis,
            keyPrefix: `${store.prefix}${keyPrefix}`,
            points,
            duration: limits.windowSeconds,
            insuranceLimiter: memory,
          })
        : memory;
    };
    this.account = make(limits.perAccount, "login-fail-account");
    this.address = make(limits.perAddress, "login-fail-address");
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

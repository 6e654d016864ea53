import type { KeyValueCache, KeyValueCacheSetOptions } from "@apollo/utils.keyvaluecache";
import type { RedisClient } from "../../events/redis-connection.ts";
import type { Logger } from "pino";

/**
 * Apollo's KeyValueCache over the ioredis connection the server already has, so every instance
 * sharing a Redis shares the Automatic Persisted Queries registered on any of them. A Redis
 * failure is a cache miss (the client re-sends the full query), never a failed request.
 */
export class RedisKeyValueCache implements KeyValueCache<string> {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async get(key: string): Promise<string | undefined> {
    // Not connected: answer a miss now rather than queue behind ioredis's reconnect attempts.
    if (this.redis.status !== "ready") return undefined;
    try {
      return (await this.redis.get(this.prefix + key)) ?? undefined;
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "APQ cache read failed; treated as a miss");
      return undefined;
    }
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    if (this.redis.status !== "ready") return;
    try {
      if (options?.ttl) await this.redis.set(this.prefix + key, value, "EX", Math.ceil(options.ttl));
      else await this.redis.set(this.prefix + key, value);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "APQ cache write failed");
    }
  }

  async delete(key: string): Promise<boolean | void> {
    await this.redis.del(this.prefix + key);
  }
}

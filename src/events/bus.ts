import { RedisPubSub } from "graphql-redis-subscriptions";
import { PubSub, type PubSubEngine } from "graphql-subscriptions";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Event, TopicName, TopicPayloads } from "./topics.ts";

/**
 * Publishes and subscribes to typed, id-scoped topics. With a Redis URL every instance sharing
 * that Redis (and prefix) sees every event; without one, events stay inside this process.
 */
export class EventBus {
  private constructor(
    private readonly engine: PubSubEngine,
    private readonly prefix: string,
    private readonly log: Logger,
    private readonly redis?: { publisher: Redis; subscriber: Redis },
  ) {}

  static inProcess(log: Logger): EventBus {
    return new EventBus(new PubSub(), "", log);
  }

  static redis(url: string, prefix: string, log: Logger): EventBus {
    const options = { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false };
    const publisher = new Redis(url, options);
    const subscriber = new Redis(url, options);
    for (const client of [publisher, subscriber]) {
      // ioredis reconnects by itself; readiness reports the outage meanwhile.
      client.on("error", (error: Error) => log.warn({ err: error.message }, "redis connection error"));
    }
    return new EventBus(new RedisPubSub({ publisher, subscriber }), prefix, log, { publisher, subscriber });
  }

  get distributed(): boolean {
    return this.redis !== undefined;
  }

  private channel(topic: TopicName, id: string): string {
    return `${this.prefix}${topic}:${id}`;
  }

  /** Publishes after commit; a failure is logged, never thrown into the request that committed. */
  async publish(events: readonly Event[]): Promise<void> {
    await Promise.all(
      events.map(async (e) => {
        try {
          await this.engine.publish(this.channel(e.topic, e.id), e.payload);
        } catch (error) {
          this.log.error({ err: (error as Error).message, topic: e.topic }, "event publish failed");
        }
      }),
    );
  }

  subscribe<K extends TopicName>(topic: K, ids: readonly string[]): AsyncIterableIterator<TopicPayloads[K]> {
    return this.engine.asyncIterableIterator<TopicPayloads[K]>(ids.map((id) => this.channel(topic, id)));
  }

  async ping(): Promise<void> {
    if (!this.redis) return;
    await Promise.all([this.redis.publisher.ping(), this.redis.subscriber.ping()]);
  }

  /** Closes the Redis connections: politely (QUIT) when connected, at once when Redis is unreachable. */
  async close(): Promise<void> {
    if (!this.redis) return;
    await Promise.all(
      [this.redis.publisher, this.redis.subscriber].map(async (client) => {
        if (client.status !== "ready") return client.disconnect();
        await client.quit().catch(() => client.disconnect());
      }),
    );
  }
}

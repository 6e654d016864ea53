import { RedisPubSub } from "graphql-redis-subscriptions";
import { PubSub, type PubSubEngine } from "graphql-subscriptions";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Event, TopicName, TopicPayloads } from "./topics.ts";

const PUBLISH_TIMEOUT_MS = 1_000;

/** Resolves when `client` is ready, or after `ms` whatever its state. */
export function whenReady(client: Redis, ms: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.once("ready", done);
  });
}
const RESUBSCRIBE_DELAY_MS = 1_000;

/**
 * graphql-redis-subscriptions rejects a promise nobody holds when a SUBSCRIBE fails (Redis away,
 * or the connection closed with the command still queued), which ends the process. This gives it
 * a client whose subscribe() never reports a failure: it retries until Redis accepts, and after
 * close() it simply never answers (the subscription is being torn down anyway).
 */
function neverRejectingSubscriber(client: Redis, closed: () => boolean, log: Logger): Redis {
  const subscribe = client.subscribe.bind(client) as (channel: string) => Promise<unknown>;
  const attempt = (channel: string, callback: (error: Error | null) => void): void => {
    subscribe(channel).then(
      () => callback(null),
      (error: Error) => {
        if (closed()) return;
        log.warn({ err: error.message, channel }, "redis subscribe failed; retrying");
        setTimeout(() => attempt(channel, callback), RESUBSCRIBE_DELAY_MS).unref();
      },
    );
  };
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "subscribe") return (channel: string, callback: (error: Error | null) => void) => attempt(channel, callback);
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

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
    // The publisher never queues while Redis is away: a mutation that committed answers at once
    // (its events are logged as lost) instead of waiting out reconnection attempts.
    const publisher = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: PUBLISH_TIMEOUT_MS });
    // The subscriber queues SUBSCRIBE until Redis is back, however long that takes: a subscription
    // opened during an outage waits for it, and ioredis re-subscribes every channel on reconnect.
    const subscriber = new Redis(url, { enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const client of [publisher, subscriber]) {
      // ioredis reconnects by itself; readiness reports the outage meanwhile.
      client.on("error", (error: Error) => log.warn({ err: error.message }, "redis connection error"));
    }
    const bus = new EventBus(new RedisPubSub({ publisher, subscriber: neverRejectingSubscriber(subscriber, () => bus.closed, log) }), prefix, log, { publisher, subscriber });
    return bus;
  }

  private closed = false;

  get distributed(): boolean {
    return this.redis !== undefined;
  }

  private channel(topic: TopicName, id: string): string {
    return `${this.prefix}${topic}:${id}`;
  }

  /**
   * Publishes after commit; a failure is logged, never thrown into the request that committed.
   * While Redis is not connected the events are dropped at once (logged), not waited for.
   */
  async publish(events: readonly Event[]): Promise<void> {
    if (this.redis && this.redis.publisher.status !== "ready" && events.length > 0) {
      this.log.error({ topics: events.map((e) => e.topic), redis: this.redis.publisher.status }, "event publish failed: redis not connected");
      return;
    }
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

  /**
   * Waits (at most `ms`) for the Redis connections to be ready, so an instance that has just
   * started does not drop its first events; resolves either way (an outage is readiness's to report).
   */
  async connected(ms: number): Promise<void> {
    if (!this.redis) return;
    await Promise.all([this.redis.publisher, this.redis.subscriber].map((client) => whenReady(client, ms)));
  }

  /** Resolves when Redis answers both connections; rejects at once while either is not connected. */
  async ping(): Promise<void> {
    if (!this.redis) return;
    for (const client of [this.redis.publisher, this.redis.subscriber]) {
      if (client.status !== "ready") throw new Error(`redis: not connected (${client.status})`);
    }
    await Promise.all([this.redis.publisher.ping(), this.redis.subscriber.ping()]);
  }

  /** Closes the Redis connections: politely (QUIT) when connected, at once when Redis is unreachable. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.redis) return;
    await Promise.all(
      [this.redis.publisher, this.redis.subscriber].map(async (client) => {
        if (client.status !== "ready") return client.disconnect();
        await client.quit().catch(() => client.disconnect());
      }),
    );
  }
}

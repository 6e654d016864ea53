import { randomUUID } from "node:crypto";
import { RedisPubSub } from "graphql-redis-subscriptions";
import type { Logger } from "pino";
import type { Tx } from "../db/client.ts";
import { AppError, badInput } from "../graphql/errors.ts";
import { OutboxStore, PAGE, decodeCursor, encodeCursor, type Envelope } from "./outbox.ts";
import type { Event, TopicName, TopicPayloads } from "./topics.ts";
import type { RedisTarget } from "../lib/redis-url.ts";
import { Cluster } from "ioredis";
import { closeRedisClient, createRedisClient, whenReady, type RedisClient } from "./redis-connection.ts";

const PUBLISH_TIMEOUT_MS = 1_000;
const RESUBSCRIBE_DELAY_MS = 1_000;
/** Positions heard on Redis remembered for the relay (the newest ones). */
const MAX_HEARD = 50_000;

/** What a subscriber receives: the payload, and its position in the outbox (`cursor` encodes it). */
export type Delivered<K extends TopicName = TopicName> = TopicPayloads[K] & { readonly position: number };

/** What the bus reports for /metrics (see EventBus.stats). */
export interface BusStats {
  /** The last position this instance handed to its subscribers. */
  position: number;
  /** The newest committed position this instance knows of (never below `position`). */
  head: number;
  /** How long this instance has been behind a head it has not reached yet (0 when caught up). */
  lagSeconds: number;
  /** Events this instance read from the outbox because Redis had not brought them. */
  readFromOutbox: number;
  /** Events the relay published because their instance had not. */
  relayed: number;
  /** Whether this instance holds the relay lease. */
  leader: boolean;
  /** Events this instance published on Redis. */
  published: number;
  /** Publishes that failed or were deferred because Redis was away (the relay publishes those events later). */
  publishFailures: number;
}

export interface OutboxOptions {
  /** How long events stay replayable (OUTBOX_RETENTION, default 24 h). */
  retentionMs: number;
  /** How often each instance checks the outbox head and renews or seeks the relay lease (default 200 ms). */
  tickMs?: number;
  /**
   * How long a committed event may go unheard on Redis before the relay publishes it (default
   * 500 ms); an instance still missing events three times as long reads them from the database itself.
   */
  graceMs?: number;
  /** How long the relay lease lasts unless renewed (default 3 s): a dead relay is replaced this fast. */
  leaseMs?: number;
  /** How long an instance waits for a missing position to arrive before reading it (default 100 ms). */
  gapWaitMs?: number;
}

/**
 * graphql-redis-subscriptions rejects a promise nobody holds when a SUBSCRIBE fails (Redis away,
 * or the connection closed with the command still queued), which ends the process. This gives it
 * a client whose subscribe() never reports a failure: it retries until Redis accepts, and after
 * close() it simply never answers (the subscription is being torn down anyway).
 */
function neverRejectingSubscriber(client: RedisClient, closed: () => boolean, log: Logger): RedisClient {
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

interface Transport {
  publisher: RedisClient;
  subscriber: RedisClient;
  engine: RedisPubSub;
}

interface Listener {
  deliver(event: Delivered): void;
}

/**
 * The event stream: a transactional outbox (every event is a row written by the transaction that
 * causes it, at a position contiguous and in commit order), Redis pub/sub as the fast path
 * between instances, and replay from the outbox.
 *
 * - `write(tx, events)` inside the transaction; `committed(envelopes)` after the commit publishes
 *   them at once (never waiting on Redis) and hands them to this instance's subscribers.
 * - Every instance hands events to its subscribers strictly in position order, each once: an
 *   event that arrives ahead of a missing one waits for it (`gapWaitMs`), then the missing ones
 *   are read from the outbox; after a Redis outage, or when the outbox head is ahead for long, the
 *   instance reads what it missed. Nothing committed is lost, nothing is handed out twice.
 * - One instance at a time (a lease in `outbox_relay`) is the relay: it publishes events that were
 *   committed but never heard on Redis (the committing process died, or its Redis was away) and
 *   prunes events older than the retention.
 * - `resume(topic, ids, after)` replays the events after a cursor, then continues live with no
 *   gap and no duplicate.
 */
export class EventBus {
  private readonly listeners = new Map<string, Set<Listener>>();
  private store: OutboxStore | undefined;
  private options: Required<OutboxOptions> = { retentionMs: 86_400_000, tickMs: 200, graceMs: 500, leaseMs: 3_000, gapWaitMs: 100 };
  private stream = "";
  /** The next position this instance hands out (everything before it has been). */
  private next = 1;
  private readonly waiting = new Map<number, Envelope>();
  private gapTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  /** The tick running now, if one is (close() waits for it before giving up the lease). */
  private ticking: Promise<void> | undefined;
  /** The head seen while this instance had not handed it out yet, and since when. */
  private behind: { head: number; since: number } | undefined;
  private readonly owner = randomUUID();
  private leader = false;
  /** Positions heard on Redis (the relay publishes only those never heard), and when. */
  private readonly heard = new Map<number, number>();
  private relayedThrough = 0;
  private lastPrune = 0;
  private readFromOutbox = 0;
  private relayed = 0;
  /** The outbox head as the last tick read it. */
  private head = 0;
  /** Events handed to Redis, and publishes that failed or were deferred (Redis away): for /metrics. */
  private published = 0;
  private publishFailures = 0;
  private closed = false;

  private constructor(
    private readonly prefix: string,
    private readonly log: Logger,
    private readonly transport?: Transport,
  ) {}

  static inProcess(log: Logger): EventBus {
    return new EventBus("", log);
  }

  /**
   * A bus that only writes the outbox (seeding, CLIs): no subscribers, no relay. Running servers
   * sharing the database deliver what it wrote (their catch-up reads it).
   */
  static writer(store: OutboxStore, log: Logger): EventBus {
    const bus = new EventBus("", log);
    bus.store = store;
    bus.writeOnly = true;
    return bus;
  }

  private writeOnly = false;

  /**
   * A bus over Redis pub/sub (any REDIS_URL form: events/redis-connection.ts). Plain PUBLISH, also
   * in a Cluster, where it reaches every node: there is one channel per database, so sharded
   * pub/sub (SPUBLISH) would put all of it on one shard anyway and gain nothing here.
   */
  static redis(target: RedisTarget, prefix: string, log: Logger): EventBus {
    // The publisher never queues while Redis is away: a mutation that committed answers at once
    // (the relay, or each instance's catch-up, delivers its events later) instead of waiting out reconnection.
    const publisher = createRedisClient(target, { name: "cartwheel:publisher", offlineQueue: false, maxRetriesPerRequest: 1, commandTimeoutMs: PUBLISH_TIMEOUT_MS });
    // The subscriber queues SUBSCRIBE until Redis is back, however long that takes, and ioredis
    // re-subscribes on reconnect (in a Cluster, on another node when its node is gone).
    const subscriber = createRedisClient(target, { name: "cartwheel:subscriber", offlineQueue: true, maxRetriesPerRequest: null });
    for (const client of [publisher, subscriber]) {
      // ioredis reconnects by itself; readiness reports the outage meanwhile.
      client.on("error", (error: Error) => log.warn({ err: error.message }, "redis connection error"));
    }
    let bus: EventBus | undefined;
    const engine = new RedisPubSub({ publisher: publisher instanceof Cluster ? publishOnReadyNode(publisher) : publisher, subscriber: neverRejectingSubscriber(subscriber, () => bus?.closed ?? false, log) });
    bus = new EventBus(prefix, log, { publisher, subscriber, engine });
    return bus;
  }

  get distributed(): boolean {
    return this.transport !== undefined;
  }

  private get channel(): string {
    return `${this.prefix}outbox:${this.stream}`;
  }

  /**
   * Connects the bus to the outbox (after migrations): subscribes to this database's stream on
   * Redis, starts handing out from the current head, and starts the relay/catch-up ticks.
   */
  async start(store: OutboxStore, options: OutboxOptions): Promise<void> {
    this.store = store;
    this.options = { ...this.options, ...options };
    const head = await store.head();
    this.stream = head.stream;
    this.next = head.position + 1;
    this.relayedThrough = head.position;
    if (this.transport) {
      const { engine, subscriber } = this.transport;
      let connectedBefore = subscriber.status === "ready";
      subscriber.on("ready", () => {
        // Back after an outage: what was published meanwhile never reached this instance.
        if (connectedBefore) this.catchUp("redis reconnected");
        connectedBefore = true;
      });
      // Once subscribed, read what was committed between reading the head and the subscription.
      void engine.subscribe(this.channel, (batch: Envelope[]) => this.fromRedis(batch)).then(
        () => this.catchUp("subscribed"),
        () => {},
      );
    }
    this.tickTimer = setInterval(() => void this.tick(), this.options.tickMs);
    this.tickTimer.unref();
  }

  // ---- writing ----

  /** Writes `events` to the outbox inside `tx` (one statement); returns them at their positions. */
  async write(tx: Tx, events: readonly Event[]): Promise<Envelope[]> {
    if (!this.store) throw new Error("EventBus.write before start()");
    return this.store.append(tx, events);
  }

  /**
   * After the commit: publishes the events (not awaited on Redis; a failure is logged, the relay
   * or the other instances' catch-up delivers them) and hands them to this instance's subscribers.
   */
  committed(envelopes: readonly Envelope[]): void {
    if (envelopes.length === 0 || this.writeOnly) return;
    // Observers hear of this instance's own commits at once (before the request that committed
    // answers), and again when they are handed out.
    for (const e of envelopes) this.observe(e);
    if (this.transport) void this.publish(envelopes);
    // After the current turn: the request that committed answers first, before this instance's
    // subscribers are served (with many of them that is real work).
    setImmediate(() => this.accept(envelopes));
  }

  /** Publishes on Redis; true when Redis took them. Never throws. */
  private async publish(envelopes: readonly Envelope[]): Promise<boolean> {
    const transport = this.transport!;
    if (transport.publisher.status !== "ready") {
      this.publishFailures += 1;
      this.log.warn({ positions: envelopes.map((e) => e.position), redis: transport.publisher.status }, "event publish deferred: redis not connected");
      return false;
    }
    try {
      await transport.engine.publish(this.channel, envelopes);
      this.published += envelopes.length;
      return true;
    } catch (error) {
      this.publishFailures += 1;
      this.log.warn({ err: (error as Error).message, positions: envelopes.map((e) => e.position) }, "event publish failed; the relay will retry");
      return false;
    }
  }

  // ---- handing out, in order ----

  private fromRedis(batch: Envelope[]): void {
    if (!Array.isArray(batch)) return;
    if (this.leader) {
      const now = Date.now();
      for (const e of batch) this.heard.set(e.position, now);
      if (this.heard.size > MAX_HEARD) {
        for (const position of this.heard.keys()) {
          this.heard.delete(position);
          if (this.heard.size <= MAX_HEARD / 2) break;
        }
      }
    }
    this.accept(batch);
  }

  /** Takes events from anywhere (own commits, Redis, the outbox) and hands out what is next, in order. */
  private accept(envelopes: readonly Envelope[]): void {
    for (const e of envelopes) {
      if (e.position >= this.next) this.waiting.set(e.position, e);
    }
    for (let e = this.waiting.get(this.next); e; e = this.waiting.get(this.next)) {
      this.waiting.delete(this.next);
      this.next += 1;
      this.dispatch(e);
    }
    if (this.waiting.size > 0 && !this.gapTimer) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        if (this.waiting.size > 0) this.catchUp("missing positions");
      }, this.options.gapWaitMs);
      this.gapTimer.unref();
    }
  }

  /** Reads from the outbox everything from `next` on (once at a time) and hands it out. */
  private catchUp(reason: string): void {
    if (!this.store || this.closed || this.reading) return;
    this.reading = (async () => {
      try {
        for (;;) {
          const from = this.next;
          const rows = await this.store!.range(from - 1);
          if (rows.length === 0) break;
          // Positions are contiguous: a first row past `next` means those were pruned meanwhile.
          if (rows[0]!.position > this.next) {
            this.log.warn({ from: this.next, to: rows[0]!.position - 1 }, "events pruned before they were handed out");
            this.next = rows[0]!.position;
            for (const position of this.waiting.keys()) if (position < this.next) this.waiting.delete(position);
          }
          const waiting = this.next;
          this.accept(rows);
          this.readFromOutbox += this.next - waiting;
          if (rows.length < PAGE) break;
        }
      } catch (error) {
        this.log.warn({ err: (error as Error).message, reason }, "outbox catch-up failed; retrying");
      } finally {
        this.reading = undefined;
      }
      if (this.waiting.size > 0 && !this.closed) {
        setTimeout(() => this.catchUp(reason), this.options.gapWaitMs).unref();
      }
    })();
  }

  private dispatch(e: Envelope): void {
    this.observe(e);
    const listeners = this.listeners.get(`${e.topic}:${e.id}`);
    if (!listeners || listeners.size === 0) return;
    // One object per event on this instance: its subscribers share loaders through it.
    const delivered = { ...(e.payload as object), position: e.position } as Delivered;
    for (const listener of listeners) listener.deliver(delivered);
  }

  private readonly observers: { topics: ReadonlySet<string>; onEvent: (position: number) => void }[] = [];

  /**
   * Calls `onEvent(position)` for every event of `topics` this instance is told about, whatever its
   * scope id: its own commits right after the commit, all others as they are handed out (in
   * position order). A position may be reported twice. `onEvent` must not throw. Returns what
   * stops it.
   */
  onEvents(topics: readonly TopicName[], onEvent: (position: number) => void): () => void {
    const observer = { topics: new Set(topics), onEvent };
    this.observers.push(observer);
    return () => {
      const at = this.observers.indexOf(observer);
      if (at >= 0) this.observers.splice(at, 1);
    };
  }

  private observe(e: Envelope): void {
    for (const o of this.observers) if (o.topics.has(e.topic)) o.onEvent(e.position);
  }

  /** The outbox stream this bus delivers (one per database): positions compare only within it. */
  get streamId(): string {
    return this.stream;
  }

  // ---- relay, catch-up and pruning ----

  private tick(): Promise<void> {
    if (this.ticking || this.closed || !this.store) return this.ticking ?? Promise.resolve();
    this.ticking = this.tickOnce().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async tickOnce(): Promise<void> {
    const store = this.store!;
    try {
      const { leader, head } = await store.lease(this.owner, this.options.leaseMs);
      this.head = Math.max(this.head, head);
      if (leader && !this.leader) this.relayedThrough = Math.max(this.relayedThrough, Math.min(this.next - 1, head));
      if (!leader && this.leader) this.heard.clear();
      this.leader = leader;
      // Behind the head for longer than the relay needs: read what is missing ourselves.
      // Only a position that stays missing counts: under steady traffic the head is always a
      // little ahead, and Redis brings those events a moment later.
      if (head >= this.next) {
        if (!this.behind || this.next > this.behind.head) this.behind = { head, since: Date.now() };
        else if (Date.now() - this.behind.since > 3 * this.options.graceMs) this.catchUp("behind the outbox head");
      } else {
        this.behind = undefined;
      }
      if (leader) {
        if (this.transport) await this.relay(head);
        if (Date.now() - this.lastPrune > this.pruneIntervalMs()) {
          this.lastPrune = Date.now();
          const gone = await store.prune(new Date(Date.now() - this.options.retentionMs));
          if (gone > 0) this.log.info({ gone }, "outbox pruned");
        }
      }
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "outbox tick failed");
    }
  }

  private pruneIntervalMs(): number {
    return Math.min(60_000, Math.max(1_000, this.options.retentionMs / 10));
  }

  /** Publishes what was committed up to `head` but never heard on Redis within the grace time. */
  private async relay(head: number): Promise<void> {
    const unheard: number[] = [];
    for (let p = this.relayedThrough + 1; p <= head && unheard.length < PAGE; p++) if (!this.heard.has(p)) unheard.push(p);
    if (unheard.length > 0) {
      const orphans = await this.store!.orphans(unheard, this.options.graceMs);
      if (orphans.length > 0 && (await this.publish(orphans))) {
        this.log.warn({ positions: orphans.map((e) => e.position) }, "relay published events their instance did not");
        const now = Date.now();
        for (const e of orphans) this.heard.set(e.position, now);
        this.relayed += orphans.length;
      }
    }
    while (this.relayedThrough < head && this.heard.has(this.relayedThrough + 1)) {
      this.relayedThrough += 1;
      this.heard.delete(this.relayedThrough);
    }
  }

  // ---- subscribing ----

  /**
   * For /metrics: where this instance is in the stream, how far behind the outbox head (as the
   * last lease tick, every few hundred ms, read it) and for how long, how often the outbox had
   * to step in, and what was published on Redis.
   */
  stats(): BusStats {
    const position = this.next - 1;
    const head = Math.max(this.head, position);
    return {
      position,
      head,
      // Caught up since the last tick noted it behind: no lag, whatever that tick said.
      lagSeconds: this.behind && head > position ? (Date.now() - this.behind.since) / 1000 : 0,
      readFromOutbox: this.readFromOutbox,
      relayed: this.relayed,
      leader: this.leader,
      published: this.published,
      publishFailures: this.publishFailures,
    };
  }

  /** The state of each Redis connection (ioredis `status`: ready, connecting, reconnecting, end…); none in process. */
  redisStatus(): Record<string, string> {
    if (!this.transport) return {};
    return { publisher: this.transport.publisher.status, subscriber: this.transport.subscriber.status };
  }

  /** How many subscriptions on this instance listen to `topic` scoped by `id` (tests, metrics). */
  listenerCount(topic: TopicName, id: string): number {
    return this.listeners.get(`${topic}:${id}`)?.size ?? 0;
  }

  /** Live events of `topic` scoped by one of `ids`, from now on. */
  subscribe<K extends TopicName>(topic: K, ids: readonly string[]): AsyncIterableIterator<Delivered<K>> {
    return this.iterate(topic, ids, undefined);
  }

  /**
   * The events of `topic` scoped by one of `ids` after the cursor `after` (replayed from the
   * outbox), then live ones, with no gap and no duplicate; without a cursor, live ones only.
   * Rejects with BAD_USER_INPUT for a cursor that is not this server's, CURSOR_EXPIRED for one
   * older than the retention.
   */
  async resume<K extends TopicName>(topic: K, ids: readonly string[], after: string | null | undefined): Promise<AsyncIterableIterator<Delivered<K>>> {
    if (after == null) return this.replayUntil === undefined ? this.subscribe(topic, ids) : this.iterate(topic, ids, this.replayUntil, this.replayUntil);
    const decoded = decodeCursor(after);
    if (!decoded || !this.store || decoded.stream !== this.stream.slice(0, 8)) throw badInput("after is not a cursor of this server's events", "after");
    const head = await this.store.head();
    if (decoded.position > head.position) throw badInput("after is not a cursor of this server's events", "after");
    if (decoded.position < head.prunedThrough) {
      throw new AppError("CURSOR_EXPIRED", "This cursor is older than the events kept for resuming: refetch, then subscribe without after", {
        retentionSeconds: Math.round(this.options.retentionMs / 1000),
      });
    }
    return this.iterate(topic, ids, decoded.position, this.replayUntil);
  }

  /** Set on a replayOnly() view: its resume() replays up to (not including) this position, then ends. */
  private replayUntil: number | undefined;

  /** The next position this instance will hand out: every event before it has been (replayOnly's bound). */
  get position(): number {
    return this.next;
  }

  /**
   * A view of this bus whose `resume(topic, ids, after)` only replays the events after `after` and
   * before `until` (then ends); without a cursor it yields nothing. The fan-out uses it to replay a
   * resumed subscription on its own while the live events come from a shared group.
   */
  replayOnly(until: number): EventBus {
    const view = Object.create(this) as EventBus;
    view.replayUntil = until;
    return view;
  }

  /** The cursor of a delivered event's position. */
  cursor(position: number): string {
    return encodeCursor(this.stream, position);
  }

  /** The position of a value a subscription iterator yielded (a Delivered event); undefined for anything else. */
  positionOf(event: unknown): number | undefined {
    const position = (event as { position?: unknown } | null)?.position;
    return typeof position === "number" ? position : undefined;
  }

  /** The cursor of such a value. */
  cursorOf(event: unknown): string | undefined {
    const position = this.positionOf(event);
    return position === undefined ? undefined : this.cursor(position);
  }

  private iterate<K extends TopicName>(topic: K, ids: readonly string[], after: number | undefined, replayUntil?: number): AsyncIterableIterator<Delivered<K>> {
    const queue: Delivered<K>[] = [];
    let wake: (() => void) | undefined;
    let failure: unknown;
    let done = false;
    // While replaying, live events wait here; afterwards they go straight to the queue.
    let held: Delivered<K>[] | undefined = after === undefined ? undefined : [];
    let last = after ?? 0;
    const push = (e: Delivered<K>) => {
      if (e.position <= last) return;
      last = e.position;
      queue.push(e);
      wake?.();
    };
    const listener: Listener = {
      deliver: (e) => (held ? held.push(e as unknown as Delivered<K>) : push(e as unknown as Delivered<K>)),
    };
    const channels = replayUntil === undefined ? [...new Set(ids)].map((id) => `${topic}:${id}`) : [];
    for (const channel of channels) {
      let set = this.listeners.get(channel);
      if (!set) this.listeners.set(channel, (set = new Set()));
      set.add(listener);
    }
    const stop = () => {
      if (done) return;
      done = true;
      for (const channel of channels) {
        const set = this.listeners.get(channel);
        set?.delete(listener);
        if (set?.size === 0) this.listeners.delete(channel);
      }
      wake?.();
    };
    if (after !== undefined) {
      // Everything before `until` has been handed out here (and is in the outbox); everything
      // from it on arrives live, in order.
      const until = replayUntil ?? this.next;
      void (async () => {
        try {
          let from = after;
          while (!done && from < until - 1) {
            const rows = await this.store!.replay(topic, ids, from, until);
            for (const row of rows) push({ ...(row.payload as object), position: row.position } as Delivered<K>);
            if (rows.length < PAGE) break;
            from = rows[rows.length - 1]!.position;
          }
          const live = held ?? [];
          held = undefined;
          for (const e of live) push(e);
          if (replayUntil !== undefined) stop();
        } catch (error) {
          this.log.warn({ err: (error as Error).message, topic }, "replay failed");
          failure = new Error("events could not be replayed");
          stop();
        }
      })();
    }
    const iterator: AsyncIterableIterator<Delivered<K>> = {
      async next() {
        for (;;) {
          const value = queue.shift();
          if (value) return { done: false, value };
          if (failure) {
            const error = failure;
            failure = undefined;
            throw error;
          }
          if (done) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      async return() {
        stop();
        return { done: true, value: undefined };
      },
      async throw(error) {
        stop();
        throw error;
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  // ---- lifecycle ----

  /**
   * Waits (at most `ms`) for the Redis connections to be ready, so an instance that has just
   * started does not drop its first events; resolves either way (an outage is readiness's to report).
   */
  async connected(ms: number): Promise<void> {
    if (!this.transport) return;
    await Promise.all([this.transport.publisher, this.transport.subscriber].map((client) => whenReady(client, ms)));
  }

  /** Resolves when Redis answers both connections; rejects at once while either is not connected. */
  async ping(): Promise<void> {
    if (!this.transport) return;
    for (const client of [this.transport.publisher, this.transport.subscriber]) {
      if (client.status !== "ready") throw new Error(`redis: not connected (${client.status})`);
    }
    await Promise.all([this.transport.publisher.ping(), this.transport.subscriber.ping()]);
  }

  /** Stops the ticks, gives up the relay lease, closes the Redis connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    await this.ticking;
    if (this.leader) await this.store?.release(this.owner).catch(() => {});
    await this.reading?.catch(() => {});
    if (!this.transport) return;
    await Promise.all([this.transport.publisher, this.transport.subscriber].map(closeRedisClient));
  }
}

/**
 * A Cluster whose PUBLISH goes to a node that is connected now. A PUBLISH has no key, so ioredis
 * sends it to any node it knows, a dead one included: with a master down (and no replica to take
 * its slots) a third of publishes would fail and wait for the relay. Any node will do: a Cluster
 * forwards every PUBLISH to all nodes. With no node ready, the Cluster's own publish fails as before.
 */
function publishOnReadyNode(cluster: Cluster): Cluster {
  return new Proxy(cluster, {
    get(target, property, receiver) {
      if (property !== "publish") return Reflect.get(target, property, receiver) as unknown;
      return (channel: string, message: string) => {
        const ready = target.nodes("master").filter((node) => node.status === "ready");
        const node = ready[Math.floor(Math.random() * ready.length)];
        return node ? node.publish(channel, message) : target.publish(channel, message);
      };
    },
  });
}

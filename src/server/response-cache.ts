import { printSchema, type GraphQLSchema } from "graphql";
import type { RedisClient } from "../events/redis-connection.ts";
import type { Logger } from "pino";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { sha256Hex } from "../lib/hash.ts";
import type { Metrics } from "./metrics.ts";

/**
 * Who shares an entry: `public` for anonymous callers and customers (who see exactly what
 * anonymous callers see when the selection has no private field), `partner` for partner-key
 * requests (the same data, but run on the partner's larger cost budget, so an anonymous caller is
 * never answered a document it would be refused for).
 */
export type Audience = "public" | "partner";

/** A response found in the cache: the result's `data` as JSON text, its policy's max-age, and its age. */
export interface CachedResponse {
  data: string;
  maxAge: number;
  /** Whole seconds since it was stored (the `Age` header). */
  age: number;
}

export interface ResponseCacheOptions {
  /** Entries go to Redis when given (shared by every instance), to a bounded map in memory otherwise. */
  redis?: RedisClient | undefined;
  /** REDIS_PREFIX: keys are `<prefix>rc:<namespace>:<sha256>`. */
  prefix: string;
  /**
   * What else an answer depends on: the schema, the operation limits and the outbox stream (whose
   * positions the entries carry). Instances that differ in any of them never share entries.
   */
  namespace: string;
  /** The position this instance has reached in the event stream (EventBus.position: everything before it was handed out here). */
  position: () => number;
  metrics: Metrics;
  log: Logger;
  /** In-memory entries kept at most (default 1,000; least recently used go first). */
  maxEntries?: number;
  /** In memory, the characters of all entries together at most (default 32 Mi; least recently used go first). */
  maxMemoryChars?: number;
  /** Larger `data` (in characters) is not stored (default 1 Mi). */
  maxBytes?: number;
}

const LOOKED_UP = Symbol("response cache key looked up");

interface Store {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): void;
}

/**
 * The shared response cache of anonymous public catalog operations, with its one freshness rule.
 *
 * Every entry carries the position this instance's bus had reached when the operation started,
 * read before anything was executed: the response reflects at least every change committed before
 * that position. Each instance remembers the position of the last catalog change it has been told
 * about (`changed`, from the bus: its own commits at once, others' as they are handed out, which is
 * what its subscriptions see too) and serves an entry only if the entry's position is past it.
 * So no instance serves a response older than a change it knows of, whichever instance stored it,
 * and no delete message can race a write: a slow request that read old rows stores an entry with
 * its old position, which every instance told of the change refuses. The rule is coarse: any
 * catalog change makes every older entry stale (a price, status or stock change can move a product
 * into or out of any listing, filter and order). Entries also expire after their max-age.
 *
 * A Redis that fails or is slow (its client has a short command timeout) is a miss, never an error.
 */
export class ResponseCache {
  private lastChange: number;
  private readonly store: Store;
  private readonly maxBytes: number;
  /** Cacheable documents by queryHash, with their operation's name ("" when unnamed). */
  private readonly cacheable = new BoundedCache<string>(2_000, 64);

  constructor(private readonly options: ResponseCacheOptions) {
    // Changes before this instance started are unknown to it: entries stored before then are refused.
    this.lastChange = options.position() - 1;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.store = options.redis
      ? new RedisStore(options.redis, options.metrics, options.log)
      : new MemoryStore(options.maxEntries ?? 1_000, options.maxMemoryChars ?? 32 * 1024 * 1024);
  }

  /** The bus reports a catalog change at `position` (possibly twice). */
  changed(position: number): void {
    if (position <= this.lastChange) return;
    this.lastChange = position;
    this.options.metrics.responseCache.invalidations.inc();
  }

  /**
   * Documents (by queryHash) that Apollo's layer found cacheable on this instance: only those are
   * looked up before Apollo, so mutations and private queries cost no lookup and count no miss.
   */
  noteCacheable(queryHash: string, operationName: string | null | undefined): void {
    if (this.cacheable.get(queryHash) === undefined) this.cacheable.set(queryHash, operationName ?? "");
  }

  /** The operation name of a document noted cacheable ("" when unnamed); undefined when it was not. */
  cacheableOperation(queryHash: string): string | undefined {
    return this.cacheable.get(queryHash);
  }

  /** Where this instance is in the event stream now: read it before executing what will be stored. */
  position(): number {
    return this.options.position();
  }

  /** The key of an operation: the document's sha256 (Apollo's queryHash), its operation name, its variables, who shares it. */
  key(queryHash: string, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined, audience: Audience): string {
    const identity = `${queryHash}\n${operationName ?? ""}\n${audience}\n${canonicalJson(variables ?? {})}`;
    return `${this.options.prefix}rc:${this.options.namespace}:${sha256Hex(identity)}`;
  }

  /** The entry under `key` if it is fresh (see the class comment); counts a hit, miss or stale entry. */
  async get(key: string, layer: "http" | "graphql"): Promise<CachedResponse | undefined> {
    const { metrics } = this.options;
    const value = await this.store.get(key);
    const entry = value === undefined ? undefined : parseEntry(value);
    if (!entry) {
      metrics.responseCache.misses.inc();
      return undefined;
    }
    if (entry.position <= this.lastChange) {
      metrics.responseCache.stale.inc();
      return undefined;
    }
    const age = Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000));
    if (age >= entry.maxAge) {
      metrics.responseCache.misses.inc();
      return undefined;
    }
    metrics.responseCache.hits.inc({ layer });
    return { data: entry.data, maxAge: entry.maxAge, age };
  }

  /** Stores `data` (the result's JSON text) for `maxAge` seconds, as fresh as `position`. Never waits, never throws. */
  set(key: string, data: string, maxAge: number, position: number): void {
    if (data.length > this.maxBytes) {
      this.bypass("too_large");
      return;
    }
    this.options.metrics.responseCache.stores.inc();
    this.store.set(key, `${position}:${Date.now()}:${maxAge}:${data}`, maxAge * 1000);
  }

  bypass(reason: "staff" | "not_public" | "errors" | "too_large"): void {
    this.options.metrics.responseCache.bypasses.inc({ reason });
  }

  /** The HTTP fast path looked `key` up for this operation's context and missed: Apollo's layer need not look again. */
  missedBefore(context: object, key: string): void {
    // A property, not a WeakMap: Apollo runs each operation on a shallow copy of the context.
    (context as { [LOOKED_UP]?: string })[LOOKED_UP] = key;
  }

  wasMissedBefore(context: object, key: string): boolean {
    return (context as { [LOOKED_UP]?: string })[LOOKED_UP] === key;
  }
}

/** ResponseCacheOptions.namespace: a digest of what answers depend on besides the request. */
export function namespaceOf(schema: GraphQLSchema, limits: unknown, stream: string): string {
  return sha256Hex(`${printSchema(schema)}\n${JSON.stringify(limits)}\n${stream}`).slice(0, 16);
}

/** `position:storedAt:maxAge:data`, or undefined for anything else (an entry of another version). */
function parseEntry(value: string): { position: number; storedAt: number; maxAge: number; data: string } | undefined {
  const first = value.indexOf(":");
  const second = value.indexOf(":", first + 1);
  const third = value.indexOf(":", second + 1);
  if (first < 0 || second < 0 || third < 0) return undefined;
  const position = Number(value.slice(0, first));
  const storedAt = Number(value.slice(first + 1, second));
  const maxAge = Number(value.slice(second + 1, third));
  if (!Number.isFinite(position) || !Number.isFinite(storedAt) || !Number.isFinite(maxAge)) return undefined;
  return { position, storedAt, maxAge, data: value.slice(third + 1) };
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` name the same entry. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

/** Least recently used entries go first, past `maxEntries` or `maxChars` of values in all. */
class MemoryStore implements Store {
  private readonly entries = new Map<string, { value: string; expires: number }>();
  private chars = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxChars: number,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expires <= Date.now()) {
      this.chars -= entry.value.length;
      return undefined;
    }
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: string, ttlMs: number): void {
    const earlier = this.entries.get(key);
    if (earlier) {
      this.entries.delete(key);
      this.chars -= earlier.value.length;
    }
    this.entries.set(key, { value, expires: Date.now() + ttlMs });
    this.chars += value.length;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.entries.delete(oldest);
      this.chars -= entry.value.length;
    }
  }
}

class RedisStore implements Store {
  constructor(
    private readonly redis: RedisClient,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async get(key: string): Promise<string | undefined> {
    // Not connected: a miss now, rather than a wait behind ioredis's reconnection.
    if (this.redis.status !== "ready") {
      this.metrics.responseCache.errors.inc({ operation: "get" });
      return undefined;
    }
    try {
      return (await this.redis.get(key)) ?? undefined;
    } catch (error) {
      this.metrics.responseCache.errors.inc({ operation: "get" });
      this.log.debug({ err: (error as Error).message }, "response cache read failed; a miss");
      return undefined;
    }
  }

  set(key: string, value: string, ttlMs: number): void {
    if (this.redis.status !== "ready") {
      this.metrics.responseCache.errors.inc({ operation: "set" });
      return;
    }
    this.redis.set(key, value, "PX", ttlMs).catch((error: unknown) => {
      this.metrics.responseCache.errors.inc({ operation: "set" });
      this.log.debug({ err: (error as Error).message }, "response cache write failed");
    });
  }
}

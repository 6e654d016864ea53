import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisTarget } from "../lib/redis-url.ts";

/**
 * The one place Redis connections are made, for every form of REDIS_URL (lib/redis-url.ts): one
 * server, a Sentinel-watched master, or a Cluster. Every user (the event bus's publisher and
 * subscriber, the login limiter, the APQ store, the response cache, readiness) gets its client here.
 *
 * What each user sends is Cluster-safe as it is: every command, MULTI and Lua script (the
 * limiter's) touches one key, so no hash tag is needed, and none is added: a `{prefix}` tag would
 * put every key of a deployment on one node. Keys are prefixed by hand (REDIS_PREFIX), never with
 * ioredis's `keyPrefix` (which would also prefix pub/sub channels differently per client).
 * Pub/sub uses plain PUBLISH/SUBSCRIBE: in a Cluster a PUBLISH reaches subscribers on every node.
 */
export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** Shown by CLIENT LIST, so an operator sees which of Cartwheel's connections is which. */
  name: string;
  /**
   * Queue commands while not connected (true: they wait for the connection, however long that
   * takes; false: they fail at once, and callers check `status` first and fall back).
   */
  offlineQueue: boolean;
  /** Reconnections a command survives before it fails (null: any number). */
  maxRetriesPerRequest: number | null;
  /** A connected server that does not answer within this fails the command (undefined: no bound). */
  commandTimeoutMs?: number;
}

/**
 * A client for `target`. It connects in the background and reconnects by itself (Sentinel: to
 * whichever node is master now; Cluster: re-reading the slots after a failover); the caller adds
 * an "error" listener (ioredis emits one per failed attempt) and checks `status` before commands
 * that must not wait.
 */
export function createRedisClient(target: RedisTarget, options: ConnectionOptions): RedisClient {
  const perConnection: RedisOptions = {
    connectionName: options.name,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    ...(options.commandTimeoutMs !== undefined && { commandTimeout: options.commandTimeoutMs }),
  };
  switch (target.kind) {
    case "single":
      return new Redis(target.url, { ...perConnection, enableOfflineQueue: options.offlineQueue });
    case "sentinel":
      return new Redis({
        ...perConnection,
        enableOfflineQueue: options.offlineQueue,
        sentinels: target.sentinels,
        name: target.masterName,
        db: target.db,
        username: target.username,
        password: target.password,
        sentinelUsername: target.sentinelUsername,
        sentinelPassword: target.sentinelPassword,
        ...(target.tls && { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} }),
      });
    case "cluster":
      // The queue is the Cluster's (before the slots are known); each node connection keeps the
      // one ioredis gives it, which only holds a command while that node's connection is made.
      return new Cluster(target.nodes, {
        enableOfflineQueue: options.offlineQueue,
        // Without a queue, nothing waits for a node either: by default a command (a MULTI too,
        // which commandTimeout does not bound) meeting a closed node connection or CLUSTERDOWN is
        // retried every 100 ms up to 16 times, 1.7 s per log-in check while a node is dead.
        ...(!options.offlineQueue && { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 }),
        redisOptions: { ...perConnection, username: target.username, password: target.password, ...(target.tls && { tls: {} }) },
      });
    default: {
      const never: never = target;
      throw new Error(`unknown Redis target ${JSON.stringify(never)}`);
    }
  }
}

/** Resolves when `client` is ready, or after `ms` whatever its state (never rejects). */
export function whenReady(client: RedisClient, ms: number): Promise<void> {
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

/** Closes `client`: QUIT when connected (pending replies arrive), else at once. Never rejects. */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  if (client.status !== "ready") return client.disconnect();
  await client.quit().catch(() => client.disconnect());
}

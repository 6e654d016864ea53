// REDIS_URL's three forms (lib/redis-url.ts) as config reads them, the secrets they hold, and the
// clients the factory builds from them.
import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { createRedisClient } from "../../src/events/redis-connection.ts";
import { parseRedisUrl, redisSecrets } from "../../src/lib/redis-url.ts";
import { secretsOf } from "../../src/startup.ts";

const problemsOf = (url: string): string[] => {
  try {
    loadConfig({ REDIS_URL: url });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("REDIS_URL", () => {
  it("one server: redis:// and rediss:// as ioredis reads them", () => {
    expect(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379/2" }).redis).toEqual({ kind: "single", url: "redis://127.0.0.1:6379/2" });
    expect(loadConfig({ REDIS_URL: "rediss://:pw@cache.example.com" }).redis).toEqual({ kind: "single", url: "rediss://:pw@cache.example.com" });
    expect(loadConfig({}).redis).toBeUndefined();
  });

  it("Sentinel: the sentinels (default port 26379), the master's name, db, credentials of nodes and of sentinels", () => {
    expect(loadConfig({ REDIS_URL: "redis+sentinel://s1:26380,s2,[::1]:26381/mymaster" }).redis).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "s1", port: 26380 },
        { host: "s2", port: 26379 },
        { host: "::1", port: 26381 },
      ],
      masterName: "mymaster",
      db: 0,
      sentinelUsername: undefined,
      sentinelPassword: undefined,
      tls: false,
    });
    expect(parseRedisUrl("rediss+sentinel://app:p%40ss@10.0.0.1:26379/shop/3?sentinel_username=watch&sentinel_password=s3cret").target).toEqual({
      kind: "sentinel",
      sentinels: [{ host: "10.0.0.1", port: 26379 }],
      masterName: "shop",
      db: 3,
      username: "app",
      password: "p@ss",
      sentinelUsername: "watch",
      sentinelPassword: "s3cret",
      tls: true,
    });
    expect(parseRedisUrl("redis+sentinel://:only-password@s1/m").target).toMatchObject({ password: "only-password" });
    expect(parseRedisUrl("redis+sentinel://:only-password@s1/m").target).not.toHaveProperty("username");
  });

  it("Cluster: the seed nodes (default port 6379) and the nodes' credentials", () => {
    expect(loadConfig({ REDIS_URL: "redis+cluster://n1:7000,n2:7001,n3" }).redis).toEqual({
      kind: "cluster",
      nodes: [
        { host: "n1", port: 7000 },
        { host: "n2", port: 7001 },
        { host: "n3", port: 6379 },
      ],
      tls: false,
    });
    expect(parseRedisUrl("rediss+cluster://:pw@n1:7000/").target).toEqual({ kind: "cluster", nodes: [{ host: "n1", port: 7000 }], password: "pw", tls: true });
  });

  it("bad values fail start-up, each naming what is wrong, without the password", () => {
    const cases: [string, RegExp][] = [
      ["redis+sentinel://s1:26379", /needs the master's name/],
      ["redis+sentinel://s1:26379/m/x", /\/<masterName>\/<db>/],
      ["redis+sentinel://s1/m?timeout=5", /only sentinel_username and sentinel_password.*timeout/],
      ["redis+cluster://n1:7000/0", /only database 0/],
      ["redis+cluster://n1:7000?x=1", /no query parameters/],
      ["redis+cluster://n1:7000,,n2", /comma list of host\[:port\]/],
      ["redis+cluster://n1:99999", /entry 1 is not one/],
      ["redis+cluster://:hunter22@", /comma list of host/],
      // An unencoded "@" in the password: the part after it is taken for a host and never quoted.
      ["redis+sentinel://:hun@hunter22@s1/m", /entry 1 is not one \(percent-encode/],
      ["redis+sentinel://s1/%E0%A4%A/m", /master's name .* not valid percent-encoding/],
      ["redis+sentinel://s1/m?sentinel_password=%zz", /query parameters .* not valid percent-encoding/],
      ["redis+sentinal://s1/m", /must be redis\+sentinel:\/\/ or redis\+cluster:\/\//],
      ["http://cache:6379", /must use redis:, rediss:, redis\+sentinel: or redis\+cluster:/],
      ["nope", /not a valid URL/],
    ];
    for (const [url, expected] of cases) {
      const problems = problemsOf(url);
      expect(problems, url).toHaveLength(1);
      expect(problems[0], url).toMatch(/^REDIS_URL /);
      expect(problems[0], url).toMatch(expected);
      expect(problems[0]).not.toContain("hunter22");
    }
  });

  it("a sentinel_password keeps its '+' (URL, not form, decoding)", () => {
    expect(parseRedisUrl("redis+sentinel://s1/m?sentinel_password=a+b%2Bc").target).toMatchObject({ sentinelPassword: "a+b+c" });
  });

  it("every password it holds is a secret the start-up error line hides", () => {
    expect(redisSecrets("redis+sentinel://u:p%21w@s1/m?sentinel_password=sent-pw")).toEqual(["p%21w", "p!w", "sent-pw", "sent-pw"]);
    expect(redisSecrets("redis+cluster://:cluster-pw@n1:7000")).toContain("cluster-pw");
    expect(redisSecrets("redis://:single-pw@h:6379")).toContain("single-pw");
    expect(secretsOf({ redisUrl: "redis+cluster://:cluster-pw@n1:7000" })).toContain("cluster-pw");
  });
});

describe("createRedisClient", () => {
  const options = { name: "cartwheel:test", offlineQueue: false, maxRetriesPerRequest: 1, commandTimeoutMs: 150 };

  it("builds a Cluster client for the Cluster form, with the per-node options on every node connection", () => {
    const target = parseRedisUrl("redis+cluster://:pw@127.0.0.1:1,127.0.0.1:2").target!;
    const client = createRedisClient(target, options);
    try {
      expect(client).toBeInstanceOf(Cluster);
      const cluster = client as Cluster;
      expect(cluster.options.enableOfflineQueue).toBe(false);
      // Nothing waits for a node either (e2e: a dead node's slots fail at once, not after 1.7 s).
      expect(cluster.options).toMatchObject({ retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 });
      expect(cluster.options.redisOptions).toMatchObject({ password: "pw", commandTimeout: 150, maxRetriesPerRequest: 1, connectionName: "cartwheel:test" });
    } finally {
      client.disconnect();
    }
  });

  it("a queueing Cluster client (the subscriber) keeps ioredis's retries through a failover", () => {
    const client = createRedisClient(parseRedisUrl("redis+cluster://127.0.0.1:1").target!, { name: "s", offlineQueue: true, maxRetriesPerRequest: null });
    try {
      expect((client as Cluster).options).toMatchObject({ enableOfflineQueue: true, retryDelayOnFailover: 100, retryDelayOnClusterDown: 100 });
    } finally {
      client.disconnect();
    }
  });

  it("builds a Sentinel client that asks the sentinels for the named master", () => {
    const target = parseRedisUrl("redis+sentinel://:pw@127.0.0.1:1/shop/2?sentinel_password=sp").target!;
    const client = createRedisClient(target, options);
    try {
      expect(client).toBeInstanceOf(Redis);
      expect((client as Redis).options).toMatchObject({
        sentinels: [{ host: "127.0.0.1", port: 1 }],
        name: "shop",
        db: 2,
        password: "pw",
        sentinelPassword: "sp",
        enableOfflineQueue: false,
        commandTimeout: 150,
        maxRetriesPerRequest: 1,
      });
    } finally {
      client.disconnect();
    }
  });

  it("builds a plain client for one server", () => {
    const client = createRedisClient({ kind: "single", url: "redis://127.0.0.1:1/4" }, options);
    try {
      expect(client).toBeInstanceOf(Redis);
      expect((client as Redis).options).toMatchObject({ port: 1, db: 4, enableOfflineQueue: false, commandTimeout: 150 });
    } finally {
      client.disconnect();
    }
  });
});

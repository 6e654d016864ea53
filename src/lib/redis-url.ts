/**
 * REDIS_URL in its three forms. The Sentinel form is the `redis+sentinel://` convention of
 * Redis-Sentinel-Url, redis-vl (Python and Java), Prefect/docket and Harbor; the Cluster form
 * follows it with `redis+cluster://`, since a plain `redis://` cannot name several nodes.
 *
 *   redis[s]://[[user]:password@]host[:port][/db]                          one server (ioredis parses it)
 *   redis[s]+sentinel://[[user]:password@]host[:port][,host[:port]…]/master[/db][?sentinel_username=…&sentinel_password=…]
 *   redis[s]+cluster://[[user]:password@]host[:port][,host[:port]…]
 *
 * Sentinels default to port 26379, cluster nodes to 6379. The user and password are those of the
 * data nodes (master/replicas, cluster nodes); `sentinel_username`/`sentinel_password` those of the
 * Sentinel daemons (none by default). `rediss` turns on TLS for every connection, Sentinels included.
 * A Cluster has only database 0, so its URL names none. Hosts are names, IPv4 or `[IPv6]`.
 */
export interface RedisNode {
  host: string;
  port: number;
}

interface Credentials {
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
}

export type RedisTarget =
  | { kind: "single"; url: string }
  | ({ kind: "sentinel"; sentinels: RedisNode[]; masterName: string; db: number; sentinelUsername?: string | undefined; sentinelPassword?: string | undefined } & Credentials)
  | ({ kind: "cluster"; nodes: RedisNode[] } & Credentials);

/** The form parsed, or what is wrong with it (never quoting a password). */
export type ParsedRedisUrl = { target: RedisTarget; problem?: undefined } | { target?: undefined; problem: string };

const MULTI_HOST = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const SENTINEL_PARAMS = ["sentinel_username", "sentinel_password"];

export function parseRedisUrl(raw: string): ParsedRedisUrl {
  const match = MULTI_HOST.exec(raw);
  if (!match) return parseSingle(raw);
  const [, scheme, kind, userInfo, hostList, path = "", query = ""] = match;
  const tls = scheme!.toLowerCase() === "rediss";
  const form = `${scheme}+${kind}://`;
  let credentials: { username?: string; password?: string };
  try {
    credentials = parseUserInfo(userInfo);
  } catch {
    return { problem: `the user or password of ${form} is not valid percent-encoding` };
  }
  const defaultPort = kind!.toLowerCase() === "sentinel" ? 26379 : 6379;
  const nodes: RedisNode[] = [];
  for (const [index, entry] of hostList!.split(",").entries()) {
    const node = parseHostPort(entry.trim(), defaultPort);
    // Not quoted: with an unencoded "@" in the password, an "entry" would hold part of it.
    if (!node) return { problem: `${form} needs a comma list of host[:port] (port 1..65535, IPv6 in brackets); entry ${index + 1} is not one (percent-encode "@" and ":" in a password)` };
    nodes.push(node);
  }
  const params = queryParams(query!);
  if (!params) return { problem: `the query parameters of ${form} are not valid percent-encoding` };
  if (kind!.toLowerCase() === "cluster") {
    if (path !== "" && path !== "/") return { problem: `${form} names no master or database (a Cluster has only database 0); remove "${path}"` };
    if ([...params.keys()].length > 0) return { problem: `${form} takes no query parameters (got ${[...params.keys()].join(", ")})` };
    return { target: { kind: "cluster", nodes, ...credentials, tls } };
  }
  const [, encodedMaster, db, ...extra] = path.split("/");
  let masterName: string | undefined;
  try {
    masterName = encodedMaster === undefined ? undefined : decodeURIComponent(encodedMaster);
  } catch {
    return { problem: `the master's name in ${form} is not valid percent-encoding` };
  }
  if (!masterName) return { problem: `${form} needs the master's name as its path: ${form}host:26379,host:26379/<masterName>` };
  if (extra.length > 0 || (db !== undefined && !/^\d{1,2}$/.test(db))) return { problem: `${form} path must be /<masterName> or /<masterName>/<db> (db a number)` };
  const unknown = [...params.keys()].filter((name) => !SENTINEL_PARAMS.includes(name));
  if (unknown.length > 0) return { problem: `${form} accepts only ${SENTINEL_PARAMS.join(" and ")} as query parameters (got ${unknown.join(", ")})` };
  return {
    target: {
      kind: "sentinel",
      sentinels: nodes,
      masterName,
      db: db === undefined ? 0 : Number(db),
      ...credentials,
      sentinelUsername: params.get("sentinel_username") ?? undefined,
      sentinelPassword: params.get("sentinel_password") ?? undefined,
      tls,
    },
  };
}

/** Every secret a REDIS_URL holds (as written and decoded), to keep out of logs and error lines. */
export function redisSecrets(raw: string | undefined): string[] {
  if (!raw) return [];
  const secrets: string[] = [];
  const match = MULTI_HOST.exec(raw);
  if (match) {
    const password = match[3]?.split(":").slice(1).join(":");
    if (password) secrets.push(password);
    for (const [name, value] of queryParams(match[6] ?? "") ?? []) if (name === "sentinel_password" && value) secrets.push(value);
  } else {
    try {
      const password = new URL(raw).password;
      if (password) secrets.push(password);
    } catch {
      // Not a URL at all: config refuses it, and there is no password to find.
    }
  }
  return secrets.flatMap((s) => {
    try {
      return [s, decodeURIComponent(s)];
    } catch {
      return [s];
    }
  });
}

function parseSingle(raw: string): ParsedRedisUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: "is not a valid URL (redis://host:port, redis+sentinel://host:port,…/master or redis+cluster://host:port,…)" };
  }
  if (/^rediss?\+/i.test(url.protocol)) return { problem: `${url.protocol}// must be redis+sentinel:// or redis+cluster:// (or rediss+…)` };
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    return { problem: `must use redis:, rediss:, redis+sentinel: or redis+cluster: (got "${url.protocol}")` };
  }
  return { target: { kind: "single", url: raw } };
}

function parseUserInfo(userInfo: string | undefined): { username?: string; password?: string } {
  if (!userInfo) return {};
  const colon = userInfo.indexOf(":");
  const user = colon < 0 ? userInfo : userInfo.slice(0, colon);
  const password = colon < 0 ? "" : userInfo.slice(colon + 1);
  return {
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  };
}

function parseHostPort(entry: string, defaultPort: number): RedisNode | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(entry);
  if (!match) return undefined;
  const host = match[1] ?? match[2]!;
  if (match[2] !== undefined && !HOST_NAME.test(host)) return undefined;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/**
 * `a=b&c=d` percent-decoded as URLs encode passwords (a "+" stays a "+", unlike form encoding);
 * undefined when an escape is not valid.
 */
function queryParams(query: string): Map<string, string> | undefined {
  const params = new Map<string, string>();
  try {
    for (const pair of query.split("&")) {
      if (pair === "") continue;
      const at = pair.indexOf("=");
      const [name, value] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
      params.set(decodeURIComponent(name), decodeURIComponent(value));
    }
  } catch {
    return undefined;
  }
  return params;
}

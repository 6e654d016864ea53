import type { IncomingMessage, ServerResponse } from "node:http";
import { HeaderMap, type ApolloServer, type BaseContext } from "@apollo/server";
import { GraphQLError } from "graphql";
import type { Logger } from "pino";
import type { Context } from "../graphql/context.ts";
import { timingSafeEqual } from "node:crypto";
import type { Metrics } from "./metrics.ts";
import { REQUEST_ID_HEADER, exchangeOf, openExchange, type Exchange, type RequestLog } from "./request-log.ts";
import type { Decision, RequestParams } from "./persisted/trusted-documents.ts";
import type { GatedRequest } from "./response-cache-http.ts";
import type { Phase } from "./shutdown.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
const MAX_DISCARD_BYTES = 16 * MAX_BODY_BYTES;

export interface HttpDeps {
  apollo: ApolloServer<Context>;
  /** Builds the operation's context from the request; throws UNAUTHENTICATED for a bad token. */
  context: (req: IncomingMessage) => Promise<Context>;
  /** Resolves when the database and (if configured) Redis answer; rejects otherwise. */
  ready: () => Promise<void>;
  /** The lifecycle phase: once it has left `started`, readiness answers 503 {status:"draining"}. */
  phase?: () => Phase;
  metrics: Metrics;
  log: Logger;
  /** The public keys that verify access tokens, served at /.well-known/jwks.json. */
  jwks: () => unknown;
  /** Serves the explorer page and its assets; returns false when the request is not for it. Absent when disabled. */
  explorer?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
  /**
   * Partner keys and trusted documents: decides whether the request may run and which document
   * text it runs. `context` is the request's own (built once), for callers whose role matters.
   */
  trustedDocuments?: (req: IncomingMessage, params: RequestParams, context: () => Promise<Context>) => Promise<Decision>;
  /** Depth, alias, token and directive limits of a query text (graphql/limits.ts): the error to refuse it with. */
  checkQuery?: (text: string) => GraphQLError | undefined;
  /** Sets CORS headers (server/cors.ts); resolves true when it answered the request (a preflight). Absent: no CORS. */
  cors?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  /** GraphQL over SSE at /graphql/stream (server/sse.ts). Absent: that path is 404. */
  stream?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Answers from the response cache before Apollo (server/response-cache-http.ts); resolves true when it did. Absent: off. */
  cachedAnswer?: (req: IncomingMessage, res: ServerResponse, request: GatedRequest, context: () => Promise<Context>) => Promise<boolean>;
  /** The access log and latency histogram (server/request-log.ts). Absent: no request lines. */
  requestLog?: RequestLog;
  /** Serve /metrics on this port's handler (default true; false when METRICS_PORT gives it a listener of its own: then 404 here). */
  serveMetrics?: boolean;
  /** METRICS_TOKEN: /metrics asks for `Authorization: Bearer <token>` (401 otherwise). Absent: no token asked. */
  metricsToken?: string | undefined;
}

/** Node http handler: /graphql through Apollo, /graphql/stream (SSE), health and metrics beside it. Knows no domain. */
export function createHttpHandler(deps: HttpDeps) {
  const serveMetrics = deps.serveMetrics ?? true;
  return async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const url = requestUrl(req);
    // Taken from the caller (bounded) or made here, and on every answer, so a client's report,
    // the access log line and a masked error's extensions.requestId all name the same request.
    const known = ["/graphql", "/graphql/stream", "/health/live", "/health/ready", "/.well-known/jwks.json", ...(serveMetrics ? ["/metrics"] : [])];
    const exchange = openExchange(req, known.includes(url.pathname) ? url.pathname : "other", started);
    const { requestId } = exchange;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const explorer = req.method === "GET" && deps.explorer?.(req, res, url);
    if (explorer) exchange.route = "explorer";
    const { route } = exchange;
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      deps.metrics.httpRequests.inc({ route, status: String(res.statusCode) });
      deps.requestLog?.http(exchange, req, res);
    };
    res.once("finish", done);
    res.once("close", done);
    if (explorer) return;
    try {
      if (await deps.cors?.(req, res, url)) return;
      switch (route) {
        case "/graphql":
          // Our app's own policy on top of the generic integration (see GraphQLDeps).
          return await graphql({ ...deps, getWithoutPreflight: true }, req, res, url);
        case "/graphql/stream":
          return deps.stream ? await deps.stream(req, res) : send(res, 404, { error: "not found" });
        case "/health/live":
          return send(res, 200, { status: "ok" });
        case "/health/ready":
          // Before any dependency check: a draining instance is out, whatever its dependencies say.
          if (deps.phase && deps.phase() !== "started") return send(res, 503, { status: "draining" });
          try {
            await deps.ready();
            return send(res, 200, { status: "ready" });
          } catch (error) {
            return send(res, 503, { status: "unavailable", reason: (error as Error).message });
          }
        case "/.well-known/jwks.json":
          res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "public, max-age=300" });
          return res.end(JSON.stringify(deps.jwks()));
        case "/metrics":
          return await serveMetricsAt(deps.metrics, deps.metricsToken, req, res);
        default:
          return send(res, 404, { error: "not found" });
      }
    } catch (error) {
      deps.log.error({ err: error, requestId }, "http handler failed");
      exchange.refused = "INTERNAL_SERVER_ERROR";
      if (!res.headersSent) send(res, 500, { errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR", requestId } }] });
      else res.destroy();
    }
  };
}

/**
 * The /metrics answer: Prometheus text, or 401 when `token` is set and the request does not
 * bear it (compared in constant time). Used on the API port and on METRICS_PORT's own listener.
 */
export async function serveMetricsAt(metrics: Metrics, token: string | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
    res.writeHead(401, { "content-type": "application/json; charset=utf-8", "www-authenticate": 'Bearer realm="metrics"', "cache-control": "no-store" });
    return void res.end(JSON.stringify({ error: "metrics need Authorization: Bearer <METRICS_TOKEN>" }));
  }
  res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
  res.end(await metrics.registry.metrics());
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What `graphql` needs: HttpDeps's part of it, for any Apollo server and context type. */
interface GraphQLDeps<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  context: (req: IncomingMessage) => Promise<TContext>;
  trustedDocuments?: (req: IncomingMessage, params: RequestParams, context: () => Promise<TContext>) => Promise<Decision>;
  /** Depth, alias, token and directive limits of a query text (graphql/limits.ts): the error to refuse it with. */
  checkQuery?: (text: string) => GraphQLError | undefined;
  /** Answers the request before Apollo once every gate above let it through; resolves true when it did. */
  cachedAnswer?: (req: IncomingMessage, res: ServerResponse, request: GatedRequest, context: () => Promise<TContext>) => Promise<boolean>;
  /**
   * Let GET queries past Apollo's CSRF prevention without a preflight header. Apollo's check
   * guards cookie sessions against cross-site GETs; Cartwheel never reads cookies (bearer tokens
   * only). Apollo still refuses mutations and subscriptions over GET (405), and checks every POST.
   */
  getWithoutPreflight?: boolean;
}

/**
 * Serves any started ApolloServer on node:http, whatever the path: reads the body (JSON, at most
 * 1 MiB), runs Apollo's HTTP pipeline and writes its answer (streamed when Apollo streams).
 * `context` runs at most once per request. Without the trusted-documents gate: createHttpHandler
 * adds that. Rejects when reading the request or writing the response fails; the caller answers
 * (createHttpHandler logs and sends 500). This is the part Apollo's integration testsuite checks.
 */
export function graphqlHandler<TContext extends BaseContext>(apollo: ApolloServer<TContext>, context: (req: IncomingMessage) => Promise<TContext>) {
  return (req: IncomingMessage, res: ServerResponse) => graphql({ apollo, context }, req, res, requestUrl(req));
}

/** The request target as a URL; one that does not parse becomes a path that nothing serves. */
function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? "/";
  try {
    // Relative to a base, "//x" would name a host (and "//" alone throws): here it is a path.
    return new URL(target.startsWith("/") ? `http://localhost${target}` : target, "http://localhost");
  } catch {
    return new URL("http://localhost/invalid-request-target");
  }
}

export function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

async function graphql<TContext extends BaseContext>(deps: GraphQLDeps<TContext>, req: IncomingMessage, res: ServerResponse, url: URL) {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
  }
  if (deps.getWithoutPreflight && req.method === "GET") headers.set("apollo-require-preflight", "true");
  let body: unknown = undefined;
  if (req.method === "POST") {
    const raw = await readBody(req);
    if (raw === null) {
      res.setHeader("connection", "close");
      const exchange = exchangeOf(req);
      if (exchange) exchange.refused = "BAD_USER_INPUT";
      return send(res, 413, { errors: [{ message: `Request body too large: at most ${MAX_BODY_BYTES} bytes`, extensions: { code: "BAD_USER_INPUT" } }] });
    }
    if ((headers.get("content-type") ?? "").includes("json") && raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        const exchange = exchangeOf(req);
        if (exchange) exchange.refused = "BAD_USER_INPUT";
        return send(res, 400, { errors: [{ message: "Invalid JSON in the request body", extensions: { code: "BAD_USER_INPUT" } }] });
      }
    } else {
      body = raw;
    }
  }
  // Built at most once: the trusted-documents gate and Apollo share it.
  let contextValue: Promise<TContext> | undefined;
  const context = () => (contextValue ??= deps.context(req));
  let search = url.search;
  let partnerId: string | undefined;
  // Other methods are Apollo's to refuse (405).
  if (deps.trustedDocuments && (req.method === "GET" || req.method === "POST")) {
    const get = req.method === "GET";
    const params: RequestParams = get ? paramsFromSearch(url.searchParams) : isObject(body) ? body : {};
    let decision: Decision;
    try {
      decision = await deps.trustedDocuments(req, params, context);
    } catch (error) {
      // The caller's own context failed (a bad token): answered as Apollo would, before anything runs.
      if (!(error instanceof GraphQLError)) throw error;
      decision = { kind: "refuse", error };
    }
    if (decision.kind === "refuse") return refuse(res, decision.error);
    if (decision.kind === "use" && decision.partnerId) {
      partnerId = decision.partnerId;
      // The partner runs on its own cost budget (graphql/limits.ts), read from the context; a
      // bad token next to the key is answered as without one (401), not as a failure.
      try {
        Object.assign(await context(), { partnerId: decision.partnerId });
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        return refuse(res, error);
      }
    }
    const rewrite =
      decision.kind === "use"
        ? // The manifest's text runs, whatever else came along; the hash has done its job.
          { query: decision.entry.text, drop: ["extensions", "documentId"] }
        : params.query === ""
          ? // An empty query next to an APQ hash means "hash only" (as on the WebSocket); Apollo
            // would take "" for a text that does not match the hash.
            { drop: ["query"] }
          : undefined;
    if (rewrite && get) {
      const next = new URLSearchParams(url.searchParams);
      for (const name of rewrite.drop) next.delete(name);
      if (rewrite.query !== undefined) next.set("query", rewrite.query);
      search = `?${next.toString()}`;
    } else if (rewrite) {
      const next = { ...(body as Record<string, unknown>) };
      for (const name of rewrite.drop) delete next[name];
      if (rewrite.query !== undefined) next.query = rewrite.query;
      body = next;
    }
  }
  // Limits run before Apollo parses, so a hostile document costs one short answer. A hash-only APQ
  // request carries no text here: the limits plugin checks the stored text (server/plugins/limits.ts).
  const text = req.method === "GET" ? new URLSearchParams(search).get("query") : isObject(body) ? body.query : undefined;
  const tooComplex = typeof text === "string" && text !== "" ? deps.checkQuery?.(text) : undefined;
  if (tooComplex) return refuse(res, tooComplex);
  if (deps.cachedAnswer && (await deps.cachedAnswer(req, res, { method: req.method ?? "GET", search, body, partnerId }, context))) return;
  const result = await deps.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: req.method?.toUpperCase() ?? "GET", headers, search, body },
    context,
  });
  for (const [key, value] of result.headers) {
    // CORS has already set `Vary: Origin` for an allow-list; Apollo's Vary adds to it.
    const earlier = key === "vary" ? res.getHeader("vary") : undefined;
    res.setHeader(key, earlier ? `${String(earlier)}, ${value}` : value);
  }
  res.statusCode = result.status ?? 200;
  if (result.body.kind === "complete") return res.end(result.body.string);
  for await (const chunk of result.body.asyncIterator) res.write(chunk);
  res.end();
}

/** Answers with one GraphQL error before Apollo runs; its status comes from extensions.http (default 400). */
export function refuse(res: ServerResponse, error: GraphQLError) {
  const status = (error.extensions.http as { status?: number } | undefined)?.status ?? 400;
  // Counted and logged with the request it answers (over /graphql and /graphql/stream alike).
  const exchange = exchangeOf(res.req);
  if (exchange) exchange.refused = String(error.extensions.code);
  const { http: _http, ...extensions } = error.extensions;
  return send(res, status, { errors: [{ message: error.message, extensions }] });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** GET parameters as the gate needs them; `extensions` is JSON-encoded in the URL. */
function paramsFromSearch(search: URLSearchParams): RequestParams {
  let extensions: unknown;
  try {
    extensions = JSON.parse(search.get("extensions") ?? "null");
  } catch {
    extensions = undefined; // Apollo answers malformed extensions itself.
  }
  return { query: search.get("query") ?? undefined, documentId: search.get("documentId") ?? undefined, extensions };
}

/**
 * The body as text, or null when it is over MAX_BODY_BYTES. An oversized body is read to its end
 * and dropped (not buffered) so the 413 answer reaches the client instead of a connection reset;
 * past MAX_DISCARD_BYTES the connection is cut (a client that keeps sending is not waited for).
 */
export function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DISCARD_BYTES) {
        req.destroy();
        resolve(null);
      } else if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
      } else {
        chunks.length = 0;
      }
    });
    req.on("end", () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

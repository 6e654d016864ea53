import type { IncomingMessage, ServerResponse } from "node:http";
import Negotiator from "negotiator";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { sha256Hex } from "../lib/hash.ts";
import type { Metrics } from "./metrics.ts";
import { exchangeOf } from "./request-log.ts";
import { VARY } from "./plugins/cache-scope.ts";
import type { ResponseCache } from "./response-cache.ts";

/** What server/http.ts has of a /graphql request once its gates (CORS, trusted documents, text limits) let it through. */
export interface GatedRequest {
  method: string;
  /** GET: the URL's query string as Apollo will see it (after the trusted-documents rewrite). */
  search: string;
  /** POST: the parsed body as Apollo will see it. */
  body: unknown;
  /** The partner whose key the request carried (checked by the gate); undefined without one. */
  partnerId: string | undefined;
}

// Apollo's answers for a single result (chooseContentTypeForSingleResultResponse).
const JSON_TYPE = "application/json; charset=utf-8";
const GRAPHQL_RESPONSE_TYPE = "application/graphql-response+json; charset=utf-8";
const CALLBACK_TYPE = "application/json; callbackSpec=1.0; charset=utf-8";
const APQ_HASH = /^[0-9a-f]{64}$/;

/**
 * Answers anonymous public catalog requests from the response cache before Apollo parses,
 * validates or runs anything: a hit costs a key, one lookup and one write. It runs after the
 * gates in server/http.ts (CORS, partner keys and trusted documents, the text limits), so those
 * apply to a hit as to any request. What Apollo would do after them is safe to skip for an entry:
 * it exists only for a query text (or the APQ hash of one) that Apollo parsed, validated, checked
 * against the cost budget of the same audience and answered without errors, with the same
 * variables, under the same schema and limits (the cache's namespace). Anything unusual (a token,
 * a text registered with its APQ hash, a body or Accept header Apollo might refuse) goes to Apollo,
 * whose own layer of the cache (plugins/response-cache.ts) serves signed-in customers.
 */
export class ResponseCacheFastPath {
  private readonly contentTypes = new BoundedCache<string | null>(200, 500);

  constructor(
    private readonly cache: ResponseCache,
    private readonly metrics: Metrics,
    private readonly apq: boolean,
  ) {}

  /**
   * Resolves true when it answered. On a miss it tells Apollo's layer (through the request's
   * context, which Apollo will use) not to look the same key up again.
   */
  async answer(req: IncomingMessage, res: ServerResponse, request: GatedRequest, context: () => Promise<object>): Promise<boolean> {
    if (req.headers.authorization !== undefined) return false;
    const params = request.method === "GET" ? fromSearch(req, request.search) : request.method === "POST" ? fromBody(req, request.body) : undefined;
    if (!params) return false;
    const { query, hash } = params;
    // A text with its hash registers it in the APQ store: Apollo has to see that one.
    if (query !== undefined && hash !== undefined) return false;
    const queryHash = query !== undefined ? sha256Hex(query) : this.apq ? hash : undefined;
    // Only documents Apollo's layer found cacheable here: a mutation, or a query that is not
    // public, costs no lookup (and is no miss). A document's first request goes to Apollo,
    // whose layer finds entries other instances stored.
    const knownAs = queryHash === undefined ? undefined : this.cache.cacheableOperation(queryHash);
    if (queryHash === undefined || knownAs === undefined) return false;
    const contentType = this.contentType(req.headers.accept);
    if (!contentType) return false;
    const key = this.cache.key(queryHash, params.operationName, params.variables, request.partnerId !== undefined ? "partner" : "public");
    const hit = await this.cache.get(key, "http");
    if (!hit) {
      this.cache.missedBefore(await context(), key);
      return false;
    }
    this.metrics.operations.inc({ type: "query", transport: "http" });
    // The access log and the latency histogram count a hit as the query it answers.
    const exchange = exchangeOf(req);
    if (exchange) exchange.cached = { operationName: params.operationName ?? (knownAs || null) };
    // CORS may have set `Vary: Origin` already; the cache policy's Vary adds to it (as http.ts does for Apollo's).
    const earlier = res.getHeader("vary");
    const body = `{"data":${hit.data}}\n`;
    res.writeHead(200, {
      "content-length": String(Buffer.byteLength(body)),
      "content-type": contentType,
      "cache-control": `max-age=${hit.maxAge}, public`,
      vary: earlier ? `${String(earlier)}, ${VARY}` : VARY,
      age: String(hit.age),
    });
    res.end(body);
    return true;
  }

  /** The content type Apollo would answer a single result with for this Accept header; null: let Apollo answer (406). */
  private contentType(accept: string | undefined): string | null {
    if (!accept) return JSON_TYPE;
    let chosen = this.contentTypes.get(accept);
    if (chosen === undefined) {
      chosen = new Negotiator({ headers: { accept } }).mediaType([JSON_TYPE, GRAPHQL_RESPONSE_TYPE, CALLBACK_TYPE]) ?? null;
      // The callback type is for subscriptions: Apollo's to deal with.
      if (chosen === CALLBACK_TYPE) chosen = null;
      this.contentTypes.set(accept, chosen);
    }
    return chosen;
  }
}

interface Params {
  query: string | undefined;
  hash: string | undefined;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The essence of a content-type header (`application/json; charset=utf-8` -> `application/json`). */
const essence = (header: string | undefined) => header?.split(";")[0]!.trim().toLowerCase();

function apqHash(extensions: unknown): string | undefined | null {
  if (extensions === undefined || extensions === null) return undefined;
  if (!isRecord(extensions)) return null;
  const apq = extensions.persistedQuery;
  if (apq === undefined) return undefined;
  return isRecord(apq) && apq.version === 1 && typeof apq.sha256Hash === "string" && APQ_HASH.test(apq.sha256Hash) ? apq.sha256Hash : null;
}

/** A POST body exactly as Apollo accepts it (JSON object; fields of the right types), or undefined. */
function fromBody(req: IncomingMessage, body: unknown): Params | undefined {
  if (essence(req.headers["content-type"]) !== "application/json" || !isRecord(body) || "documentId" in body) return undefined;
  const { query, operationName, variables, extensions } = body;
  if (query !== undefined && (typeof query !== "string" || query === "")) return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") return undefined;
  if (variables !== undefined && variables !== null && !isRecord(variables)) return undefined;
  const hash = apqHash(extensions);
  if (hash === null) return undefined;
  return { query, hash, operationName: operationName ?? undefined, variables: variables ?? undefined };
}

/** GET parameters as Apollo accepts them (each at most once, JSON where it expects JSON), or undefined. */
function fromSearch(req: IncomingMessage, search: string): Params | undefined {
  const contentType = req.headers["content-type"];
  if (contentType !== undefined && essence(contentType) !== "application/json") return undefined;
  const params = new URLSearchParams(search);
  const once = (name: string): string | undefined | null => {
    const all = params.getAll(name);
    return all.length > 1 ? null : all[0];
  };
  const query = once("query");
  const operationName = once("operationName");
  const variablesText = once("variables");
  const extensionsText = once("extensions");
  if (query === null || query === "" || operationName === null || variablesText === null || extensionsText === null || params.has("documentId")) return undefined;
  let variables: unknown;
  let extensions: unknown;
  try {
    variables = variablesText === undefined ? undefined : JSON.parse(variablesText);
    extensions = extensionsText === undefined ? undefined : JSON.parse(extensionsText);
  } catch {
    return undefined;
  }
  if (variables !== undefined && variables !== null && !isRecord(variables)) return undefined;
  const hash = apqHash(extensions);
  if (hash === null) return undefined;
  return { query, hash, operationName, variables: variables ?? undefined };
}

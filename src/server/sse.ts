import type { IncomingMessage, ServerResponse } from "node:http";
import { GraphQLError, getOperationAST, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { createHandler, print, type Response as SseResponse } from "graphql-sse";
import type { Context } from "../graphql/context.ts";
import { AppError } from "../graphql/errors.ts";
import type { Fanout } from "./fanout.ts";
import { MAX_BODY_BYTES, readBody, refuse } from "./http.ts";
import { followViewer, type Ended, type LiveViewer, type WatchViewer } from "./live-viewer.ts";
import type { Metrics } from "./metrics.ts";
import type { OperationRequest, Operations } from "./operations.ts";
import { PARTNER_KEY_HEADER } from "./persisted/trusted-documents.ts";
import { noteErrors } from "./request-log.ts";
import type { StreamTarget } from "./stream-queue.ts";

/** The path of GraphQL over Server-Sent Events. */
export const SSE_PATH = "/graphql/stream";

/** The longest Last-Event-ID taken (our cursors are far shorter); a longer one is refused (400). */
export const MAX_LAST_EVENT_ID = 64;

export interface SseDeps {
  schema: GraphQLSchema;
  /** The same context as /graphql (server/http.ts HttpDeps.context): a bad token rejects with UNAUTHENTICATED (401). */
  context: (req: IncomingMessage) => Promise<Context>;
  /** Trusted documents, APQ, limits and validation, shared with the WebSocket. */
  operations: Operations;
  /** The subscription fan-out, shared with the WebSocket. */
  fanout: Fanout;
  watchViewer: WatchViewer;
  /** Trusted-documents mode: a stream whose user loses STAFF is ended (FORBIDDEN), as its socket would be closed. */
  closeOnDemotion?: boolean | undefined;
  /** Shapes an error; an unexpected one is logged and masked with `requestId` (the request's). */
  formatError: (error: GraphQLFormattedError, original: unknown, requestId?: string) => GraphQLFormattedError;
  metrics: Metrics;
}

/** What graphql-sse carries for us from the request to its hooks (its `req.context`). */
interface RequestState {
  context: Context;
  params: OperationRequest;
  partnerKey: string | undefined;
  /** The cursor of each `next` message in the order graphql-sse prints them (see onNext). */
  cursors: (string | undefined)[];
  toRegister?: { hash: string; text: string } | undefined;
}

/** graphql-sse's hooks type their context as a record. */
type SseContext = Context & Record<PropertyKey, unknown>;

/** One open response. */
interface Stream {
  res: ServerResponse;
  target: StreamTarget;
  /** graphql-sse's message iterator, once the handler has answered. */
  body?: AsyncGenerator<string, void, undefined> | undefined;
  live?: LiveViewer | undefined;
  ended: boolean;
  /** Resolves when the response has closed. */
  closed: Promise<void>;
}

/** The final event of a stream whose credentials stopped being good, before `complete`. */
const ENDED: Record<Ended, { code: "UNAUTHENTICATED" | "FORBIDDEN"; message: string }> = {
  expired: { code: "UNAUTHENTICATED", message: "The access token expired: resubscribe with a fresh one (and Last-Event-ID to miss nothing)" },
  revoked: { code: "UNAUTHENTICATED", message: "The session was logged out or revoked" },
  demoted: { code: "FORBIDDEN", message: "The role changed: resubscribe" },
};

/**
 * GraphQL over SSE (graphql-sse, distinct connections mode: one operation per request, GET or
 * POST) on the HTTP server, with the WebSocket's operation pipeline and fan-out:
 *
 * - the context (viewer) is /graphql's: a bad token is 401 before any stream opens; the
 *   partner key is `x-partner-key`. Everything else the operation is refused for (limits,
 *   persisted queries, validation) arrives in the stream as a `next` with errors, then
 *   `complete`, as the GraphQL over SSE protocol requires of validation.
 * - `Last-Event-ID` becomes Context.resumeAfter; every `next` event of a subscription carries an
 *   `id:` line with its cursor (`extensions.cursor` of the result), so EventSource resumes by itself.
 * - a live stream ends with an UNAUTHENTICATED (FORBIDDEN on demotion) `next` and `complete`
 *   when its token expires or its session is revoked; a stream too slow to take its events, and
 *   every stream on shutdown, ends without `complete`, so the client reconnects with its Last-Event-ID.
 */
export function createSseHandler(deps: SseDeps) {
  const streams = new Set<Stream>();
  const targets = new WeakMap<Context, StreamTarget>();
  let closing = false;

  const handler = createHandler<IncomingMessage, RequestState, SseContext>({
    schema: deps.schema,
    // Distinct connections mode only: no stream reservations (PUT/DELETE, event-stream tokens).
    authenticate: () => null,
    // Operations.prepare has validated the document already (once per text, cached).
    validate: () => [],
    onSubscribe: async (req) => {
      const state = req.context;
      const prepared = await deps.operations.prepare(state.params, { partnerKey: state.partnerKey, viewer: state.context.viewer }, "sse");
      if ("errors" in prepared) {
        // An unknown partner key is a credential, answered like a bad token (401, no stream).
        const [first] = prepared.errors;
        if (first?.extensions.code === "UNAUTHENTICATED") return jsonError(401, first);
        return requestErrors(prepared.errors);
      }
      if (prepared.operation === "mutation" && req.method === "GET") {
        return jsonError(405, new AppError("BAD_USER_INPUT", "Mutations are only allowed over POST", { reason: "BAD_REQUEST" }), { allow: "POST" });
      }
      if (!prepared.operation) return requestErrors([new AppError("BAD_USER_INPUT", "Name the operation to run (operationName)", { reason: "OPERATION_RESOLUTION_FAILURE" })]);
      if (prepared.partnerId) state.context.partnerId = prepared.partnerId;
      state.toRegister = prepared.toRegister;
      return { ...prepared.args, contextValue: state.context as SseContext };
    },
    // Through the fan-out: identical subscriptions (of either transport) share each event's execution.
    subscribe: (args) => deps.fanout.subscribe(args, targets.get(args.contextValue)),
    onOperation: (_ctx, req, args) => {
      if (req.context.toRegister) deps.operations.register(req.context.toRegister);
      const operation = getOperationAST(args.document, args.operationName);
      deps.metrics.operations.inc({ type: operation?.operation ?? "unknown", transport: "sse" });
      req.context.context.report.type = operation?.operation;
      req.context.context.report.name = operation?.name?.value;
    },
    onNext: (_ctx, req, result) => {
      // graphql-sse prints `event: next` and `data:` only, and calls this right before it prints
      // each `next`, in order: the cursor noted here is the one the writer gives that message's
      // `id:` line (withEventId). Fan-out results arrive formatted (and shared: never mutated).
      const cursor = (result as ExecutionResult).extensions?.cursor;
      req.context.cursors.push(typeof cursor === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? cursor : undefined);
      if (!result.errors?.length) return result;
      const { requestId, report } = req.context.context;
      // Fan-out results arrive formatted already; a subscription's own errors are formatted here.
      const shaped = result.errors.some((e) => e instanceof GraphQLError);
      const errors = shaped ? result.errors.map((e) => (e instanceof GraphQLError ? deps.formatError(e.toJSON(), e, requestId) : e)) : result.errors;
      noteErrors(report, errors as GraphQLFormattedError[], deps.metrics, "sse");
      return shaped ? ({ ...result, errors } as unknown as ExecutionResult) : result;
    },
  });

  const end = (stream: Stream, final?: string) => {
    if (stream.ended) return;
    stream.ended = true;
    streams.delete(stream);
    stream.live?.stop();
    // graphql-sse completes the operation: the fan-out member leaves its group.
    void stream.body?.return(undefined);
    const { res } = stream;
    // Not answered yet: whoever answers does (a refusal, or createHttpHandler's 500).
    if (res.destroyed || res.writableEnded || !res.headersSent) return;
    if (final) res.write(final);
    res.end();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "POST") {
      res.setHeader("allow", "GET, POST");
      return refuse(res, httpError(405, `${SSE_PATH} takes GET and POST`));
    }
    if (!/(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(req.headers.accept ?? "")) {
      return refuse(res, httpError(406, `${SSE_PATH} answers with text/event-stream only (GraphQL over SSE): send Accept: text/event-stream`));
    }
    const lastEventId = req.headers["last-event-id"];
    if (typeof lastEventId === "string" && lastEventId.length > MAX_LAST_EVENT_ID) {
      return refuse(res, httpError(400, `Last-Event-ID must be the id of an event received (at most ${MAX_LAST_EVENT_ID} characters)`));
    }
    const params = await requestParams(req);
    if (params instanceof GraphQLError) {
      if (params.extensions.http && (params.extensions.http as { status: number }).status === 413) res.setHeader("connection", "close");
      return refuse(res, params);
    }
    let context: Context;
    try {
      context = await deps.context(req);
    } catch (error) {
      if (error instanceof GraphQLError) return refuse(res, error);
      throw error;
    }
    // Like `after` (graphql/resume.ts); the resolver checks it is one of our cursors.
    if (typeof lastEventId === "string" && lastEventId !== "") context.resumeAfter = lastEventId;
    const partnerKey = req.headers[PARTNER_KEY_HEADER];
    const state: RequestState = { context, params, partnerKey: typeof partnerKey === "string" ? partnerKey : undefined, cursors: [] };

    let resolveClosed!: () => void;
    const stream: Stream = { res, ended: false, closed: new Promise<void>((resolve) => (resolveClosed = resolve)), target: undefined as never };
    stream.target = {
      viewer: () => context.viewer,
      bufferedAmount: () => res.writableLength,
      tooSlow: () => {
        deps.metrics.sseStreamsEndedForBacklog.inc();
        // Cut, not ended: a client that does not read would hold the connection open.
        res.destroy();
        end(stream);
      },
    };
    targets.set(context, stream.target);
    const closed = () => {
      end(stream);
      resolveClosed();
    };
    res.once("close", closed);
    // The client may have left while its body or token was being read.
    if (res.destroyed || req.socket.destroyed) return closed();

    const [body, init] = (await handler({
      method: req.method,
      // graphql-sse parses a GET's query string itself and wants a `query` in it (hash-only requests have none).
      url: req.method === "GET" && params.query === undefined ? withEmptyQuery(req.url ?? SSE_PATH) : (req.url ?? SSE_PATH),
      headers: { get: (key) => (key === "accept" ? "text/event-stream" : joined(req.headers[key])) },
      // What requestParams read (graphql-sse's own parsing would drop documentId and refuse hash-only requests).
      body: { ...params, query: params.query ?? "" },
      raw: req,
      context: state,
    }).then(
      (response) => response,
      (error: unknown) => {
        end(stream);
        throw error;
      },
    )) as SseResponse;
    if (typeof body === "string" || body === null) {
      // Refused before any stream (401, 405): a JSON body.
      res.writeHead(init.status, init.headers);
      res.end(body ?? undefined);
      return;
    }
    stream.body = body;
    if (stream.ended) {
      // The client left while the operation was being set up.
      void body.return(undefined);
      return;
    }
    // graphql-sse's headers (no-cache, keep-alive), and no buffering in nginx-style proxies.
    res.writeHead(init.status, { ...init.headers, "x-accel-buffering": "no" });
    streams.add(stream);
    deps.metrics.sseStreams.inc();
    void stream.closed.then(() => deps.metrics.sseStreams.dec());
    // Started during shutdown: ended at once, like the others (the client reconnects elsewhere).
    if (closing) return end(stream);
    const viewer = context.viewer;
    if (viewer) {
      const finalEvent = (why: Ended) =>
        print({ event: "next", data: { errors: [{ message: ENDED[why].message, extensions: { code: ENDED[why].code } }] } as never }) + print({ event: "complete", data: null });
      stream.live = followViewer(viewer, deps, (why) => end(stream, finalEvent(why)));
    }
    try {
      // Not waiting for each write: what the client has not taken shows in res.writableLength,
      // which the fan-out's StreamQueue checks before it hands over the next event.
      for await (const message of body) {
        if (stream.ended) break;
        res.write(withEventId(message, state.cursors));
      }
    } finally {
      end(stream);
    }
  }

  return {
    handle,
    /** Ends every open stream without `complete` (clients reconnect with Last-Event-ID); resolves once all have closed. */
    async close(): Promise<void> {
      closing = true;
      const open = [...streams];
      for (const stream of open) end(stream);
      await Promise.all(open.map((s) => s.closed));
    },
    /** Cuts whatever is left. */
    terminate(): void {
      for (const stream of [...streams]) stream.res.destroy();
    },
  };
}

/**
 * The `id:` line of a `next` message: the cursor onNext noted for it (graphql-sse prints each
 * message whole, one string per message, so the line goes in front). Other messages (pings,
 * `complete`) pass unchanged.
 */
function withEventId(message: string, cursors: (string | undefined)[]): string {
  if (!message.startsWith("event: next\n")) return message;
  const cursor = cursors.shift();
  return cursor ? `id: ${cursor}\n${message}` : message;
}

/** Errors of the request itself, sent in the stream (GraphQL over SSE protocol), formatted by onNext. */
function requestErrors(errors: readonly GraphQLError[]): ExecutionResult {
  // `data` present (undefined, so not printed): graphql-sse takes a value without it for execution arguments.
  return { data: undefined, errors };
}

function jsonError(status: number, error: GraphQLError, headers: Record<string, string> = {}): SseResponse {
  const { http: _http, ...extensions } = error.extensions;
  const body = JSON.stringify({ errors: [{ message: error.message, extensions }] });
  return [body, { status, statusText: "", headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers } }];
}

const httpError = (status: number, message: string) => new AppError("BAD_USER_INPUT", message, { http: { status } });

const withEmptyQuery = (url: string) => `${url}${url.includes("?") ? "&" : "?"}query=`;

const joined = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(", ") : value);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The operation a GET (query string) or POST (JSON body, at most 1 MiB) asks for, or the 4xx to answer. */
async function requestParams(req: IncomingMessage): Promise<OperationRequest | GraphQLError> {
  let raw: Record<string, unknown>;
  if (req.method === "GET") {
    const search = new URL(req.url ?? "/", "http://localhost").searchParams;
    raw = { query: search.get("query") ?? undefined, operationName: search.get("operationName") ?? undefined, documentId: search.get("documentId") ?? undefined };
    for (const name of ["variables", "extensions"]) {
      const text = search.get(name);
      if (text === null) continue;
      try {
        raw[name] = JSON.parse(text);
      } catch {
        return httpError(400, `${name} must be JSON`);
      }
    }
  } else {
    if (!(req.headers["content-type"] ?? "").includes("application/json")) return httpError(415, "Send the operation as application/json");
    const text = await readBody(req);
    if (text === null) return httpError(413, `Request body too large: at most ${MAX_BODY_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return httpError(400, "Invalid JSON in the request body");
    }
    if (!isRecord(parsed)) return httpError(400, "The request body must be a JSON object");
    raw = parsed;
  }
  const { query, operationName, variables, extensions, documentId } = raw;
  if (query != null && typeof query !== "string") return httpError(400, "query must be a string");
  if (operationName != null && typeof operationName !== "string") return httpError(400, "operationName must be a string");
  if (variables != null && !isRecord(variables)) return httpError(400, "variables must be an object");
  if (extensions != null && !isRecord(extensions)) return httpError(400, "extensions must be an object");
  return { query: query ?? undefined, operationName: operationName ?? undefined, variables: variables ?? undefined, extensions: extensions ?? undefined, documentId };
}

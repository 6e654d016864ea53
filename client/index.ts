import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { getOperationAST } from "graphql";
import { CartwheelError, type ClientError } from "./errors.ts";
import manifest from "./generated/persisted-documents.json" with { type: "json" };
import { resumable, type CartwheelSubscription, type SubscribeRequest } from "./resume.ts";
import type { ReconnectOptions } from "./backoff.ts";
import { sseFailure, sseTransport } from "./sse.ts";
import { webSocketFailure, webSocketTransport } from "./ws.ts";

export { CartwheelError, type ClientError } from "./errors.ts";
export type { CartwheelSubscription } from "./resume.ts";
export type { ReconnectOptions } from "./backoff.ts";

/**
 * A small typed client for Cartwheel: every call takes a generated document (client/generated),
 * so variables and results are typed from schema.graphql.
 *
 * Documents travel by hash. With `mode: "apq"` (default) a query is first sent as a hash over GET
 * (cacheable), and the text follows only when the server has not seen it (Automatic Persisted
 * Queries). With `mode: "trusted"` (partners) only the hash is ever sent: the server runs the text
 * from its manifest. Subscriptions go over graphql-ws on the same URL (or GraphQL over SSE, see
 * `transport`), and resume by themselves after the connection drops (see `subscribe`).
 */
export interface ClientOptions {
  /** http(s)://host:port/graphql */
  url: string;
  /** The access token to send, read on every request and every (re)connection (so a refreshed token is picked up). */
  token?: () => string | undefined;
  /** A partner's API key (X-Partner-Key); implies trusted mode. */
  partnerKey?: string;
  mode?: "apq" | "trusted" | "plain";
  /**
   * How subscriptions travel: `"ws"` (default), graphql-ws on `url`; `"sse"`, GraphQL over
   * Server-Sent Events on `url` + `/stream` (graphql-sse, one streaming request per subscription;
   * for networks that let only plain HTTP through). Both resume the same way.
   */
  transport?: "ws" | "sse";
  /** Reconnection of subscriptions: by default for ever, with backoff from 0.5 s to 30 s. */
  reconnect?: ReconnectOptions;
  /** How often an idle WebSocket is pinged to notice a dead network (0: never). Default 15 000 ms. */
  keepAliveMs?: number;
  /**
   * How long opening a connection, a ping's pong (WebSocket), or silence beyond the server's
   * 12 s ping (SSE) may take before the connection is dropped and reopened (0: no limit).
   * Default 10 000 ms.
   */
  timeoutMs?: number;
}

export interface SubscribeOptions {
  /**
   * Start after this cursor (an event's cursor from before, e.g. a persisted `iterator.cursor`):
   * the events since are replayed first. It overrides an `after` in the variables.
   */
  after?: string;
}

/** Variables, optional when the operation has no required ones. */
type VariablesArgs<V, Rest extends unknown[] = []> = {} extends V ? [variables?: V, ...rest: Rest] : [variables: V, ...rest: Rest];

const TEXT_BY_HASH = manifest as Record<string, string>;

interface Persisted {
  operationName: string | undefined;
  kind: "query" | "mutation" | "subscription";
  /** Hex sha256 of `text`. */
  hash: string;
  text: string;
  /** The names of the variables the operation declares. */
  variables: ReadonlySet<string>;
}

function persisted(document: TypedDocumentNode<unknown, never>): Persisted {
  const id = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  const text = id ? TEXT_BY_HASH[id] : undefined;
  if (!id || text === undefined) throw new Error("not a generated document: run `npm run codegen`");
  const operation = getOperationAST(document);
  if (!operation) throw new Error("a document must hold exactly one operation");
  const variables = new Set((operation.variableDefinitions ?? []).map((d) => d.variable.name.value));
  return { operationName: operation.name?.value, kind: operation.operation, hash: id.replace(/^sha256:/, ""), text, variables };
}

export function createCartwheelClient(options: ClientOptions) {
  // A server with APQ turned off answers PERSISTED_QUERY_NOT_SUPPORTED once; then plain text it is.
  let mode = options.partnerKey ? "trusted" : (options.mode ?? "apq");
  const headers = (): Record<string, string> => {
    const token = options.token?.();
    return {
      accept: "application/graphql-response+json, application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(options.partnerKey ? { "x-partner-key": options.partnerKey } : {}),
    };
  };

  async function send(doc: Persisted, variables: unknown, withText: boolean) {
    const payload: Record<string, unknown> = { operationName: doc.operationName, variables };
    if (mode === "plain" || withText) payload.query = doc.text;
    if (mode !== "plain") payload.extensions = { persistedQuery: { version: 1, sha256Hash: doc.hash } };
    let response: Response;
    if (doc.kind === "query" && !withText && mode !== "plain") {
      // Hash-only queries go over GET so caches can keep them; the header satisfies CSRF prevention.
      const search = new URLSearchParams({
        operationName: doc.operationName ?? "",
        variables: JSON.stringify(variables ?? {}),
        extensions: JSON.stringify(payload.extensions),
      });
      response = await fetch(`${options.url}?${search}`, { headers: { ...headers(), "apollo-require-preflight": "true" } });
    } else {
      response = await fetch(options.url, {
        method: "POST",
        headers: { ...headers(), "content-type": "application/json" },
        body: JSON.stringify(payload),
      });
    }
    const body = (await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }))) as {
      data?: unknown;
      errors?: ClientError[];
    };
    return { status: response.status, body };
  }

  const credentials = (): Record<string, string> => {
    const token = options.token?.();
    return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(options.partnerKey ? { "x-partner-key": options.partnerKey } : {}) };
  };
  let ws: ReturnType<typeof webSocketTransport> | undefined;
  let sse: ReturnType<typeof sseTransport> | undefined;
  const live = new Set<CartwheelSubscription<unknown>>();
  const streams = () =>
    (sse ??= sseTransport({
      url: `${options.url.replace(/\/+$/, "")}/stream`,
      headers: credentials,
      ...(options.reconnect && { reconnect: options.reconnect }),
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    }));
  const socket = () =>
    (ws ??= webSocketTransport({
      url: options.url.replace(/^http/, "ws"),
      connectionParams: () => {
        const token = options.token?.();
        return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(options.partnerKey ? { partnerKey: options.partnerKey } : {}) };
      },
      ...(options.reconnect && { reconnect: options.reconnect }),
      ...(options.keepAliveMs !== undefined && { keepAliveMs: options.keepAliveMs }),
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    }));

  return {
    /** Runs a query or mutation; throws CartwheelError when the response has errors. */
    async request<R, V>(document: TypedDocumentNode<R, V>, ...[variables]: VariablesArgs<V>): Promise<R> {
      const doc = persisted(document as TypedDocumentNode<unknown, never>);
      let { status, body } = await send(doc, variables, false);
      const first = body.errors?.[0]?.extensions;
      if (mode === "apq" && first?.code === "PERSISTED_QUERY_NOT_FOUND") {
        ({ status, body } = await send(doc, variables, true));
      } else if (mode === "apq" && first?.reason === "PERSISTED_QUERY_NOT_SUPPORTED") {
        mode = "plain";
        ({ status, body } = await send(doc, variables, true));
      }
      if (body.errors?.length) throw new CartwheelError(body.errors, status);
      return body.data as R;
    },

    /**
     * Starts a subscription. Results arrive in order through the returned iterator; `return()`
     * (or leaving a for-await loop) unsubscribes.
     *
     * It resumes by itself: when the connection drops, the client reconnects (see
     * `ClientOptions.reconnect`) and subscribes again with `after` set to the cursor of the last
     * event received, so the server replays what was missed and the iterator goes on with
     * nothing missing and nothing repeated. `iterator.cursor` is the last yielded event's cursor:
     * persist it, and pass it as `{ after }` (the third argument) to resume after a restart. The
     * operation must declare `$after: String` and pass it to its subscription field.
     *
     * Errors end the iteration with a CartwheelError: CURSOR_EXPIRED when the cursor is older
     * than the events the server keeps (refetch what the subscription keeps current, then
     * subscribe without `after`); UNAUTHENTICATED when the credentials are not (or no longer)
     * accepted and `token()` has nothing newer: WebSocket closed with 4403, stream refused with
     * 401 or ended with an UNAUTHENTICATED event (refresh or sign in, then subscribe again with
     * `after: iterator.cursor`; with a newer token at hand it reconnects and resumes by itself);
     * CONNECTION_CLOSED when the WebSocket was closed for good
     * otherwise (e.g. 4008 too slow), a stream was refused otherwise, or the reconnection attempts
     * ran out.
     */
    subscribe<R, V>(document: TypedDocumentNode<R, V>, ...[variables, start]: VariablesArgs<V, [start?: SubscribeOptions]>): CartwheelSubscription<R> {
      const doc = persisted(document as TypedDocumentNode<unknown, never>);
      if (!doc.variables.has("after")) {
        throw new Error(`${doc.operationName ?? "the subscription"} cannot resume: declare \`$after: String\` and pass it to the subscription field`);
      }
      const given = (variables ?? {}) as Record<string, unknown>;
      const after = start?.after ?? (typeof given.after === "string" ? given.after : undefined);
      const rest = { ...given };
      delete rest.after;
      const request: SubscribeRequest = {
        // Partners send the hash only; the server runs its manifest's text. Others send the text
        // (one message per subscription: nothing to save by registering it).
        query: mode === "trusted" ? "" : doc.text,
        ...(doc.operationName !== undefined && { operationName: doc.operationName }),
        variables: rest,
        ...(mode === "trusted" && { extensions: { persistedQuery: { version: 1, sha256Hash: doc.hash } } }),
      };
      const transport = options.transport === "sse" ? { subscribe: streams().subscribe, failure: sseFailure } : { subscribe: socket().subscribe, failure: webSocketFailure };
      const subscription = resumable<R>(transport.subscribe, request, { after, failure: transport.failure, onEnd: () => live.delete(subscription) });
      live.add(subscription);
      return subscription;
    },

    /** Ends every subscription (their iterators are done) and closes the WebSocket, if one was opened. Never rejects. */
    async dispose(): Promise<void> {
      await Promise.all([...live].map((s) => s.return()));
      sse?.dispose();
      await ws?.dispose();
    },
  };
}

export type CartwheelClient = ReturnType<typeof createCartwheelClient>;

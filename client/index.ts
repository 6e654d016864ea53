import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { getOperationAST } from "graphql";
import { createClient, type Client } from "graphql-ws";
import { WebSocket } from "ws";
import manifest from "./generated/persisted-documents.json" with { type: "json" };

/**
 * A small typed client for Cartwheel: every call takes a generated document (client/generated),
 * so variables and results are typed from schema.graphql.
 *
 * Documents travel by hash. With `mode: "apq"` (default) a query is first sent as a hash over GET
 * (cacheable), and the text follows only when the server has not seen it (Automatic Persisted
 * Queries). With `mode: "trusted"` (partners) only the hash is ever sent: the server runs the text
 * from its manifest. Subscriptions go over graphql-ws on the same URL.
 */
export interface ClientOptions {
  /** http(s)://host:port/graphql */
  url: string;
  /** The access token to send, read on every request (so a refreshed token is picked up). */
  token?: () => string | undefined;
  /** A partner's API key (X-Partner-Key); implies trusted mode. */
  partnerKey?: string;
  mode?: "apq" | "trusted" | "plain";
}

export interface ClientError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** The request failed or returned errors; `code` is the first error's contract code. */
export class CartwheelError extends Error {
  constructor(
    readonly errors: ClientError[],
    readonly status: number,
  ) {
    super(errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; "));
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

const TEXT_BY_HASH = manifest as Record<string, string>;

interface Persisted {
  operationName: string | undefined;
  kind: "query" | "mutation" | "subscription";
  /** Hex sha256 of `text`. */
  hash: string;
  text: string;
}

function persisted(document: TypedDocumentNode<unknown, never>): Persisted {
  const id = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  const text = id ? TEXT_BY_HASH[id] : undefined;
  if (!id || text === undefined) throw new Error("not a generated document: run `npm run codegen`");
  const operation = getOperationAST(document);
  if (!operation) throw new Error("a document must hold exactly one operation");
  return { operationName: operation.name?.value, kind: operation.operation, hash: id.replace(/^sha256:/, ""), text };
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

  let ws: Client | undefined;
  const socket = () =>
    (ws ??= createClient({
      url: options.url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      connectionParams: () => {
        const token = options.token?.();
        return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(options.partnerKey ? { partnerKey: options.partnerKey } : {}) };
      },
    }));

  return {
    /** Runs a query or mutation; throws CartwheelError when the response has errors. */
    async request<R, V>(document: TypedDocumentNode<R, V>, ...[variables]: V extends Record<string, never> ? [V?] : [V]): Promise<R> {
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
     * (or leaving a for-await loop) unsubscribes. Errors end the iteration with a CartwheelError.
     */
    subscribe<R, V>(document: TypedDocumentNode<R, V>, ...[variables]: V extends Record<string, never> ? [V?] : [V]): AsyncIterableIterator<R> {
      const doc = persisted(document as TypedDocumentNode<unknown, never>);
      const source = socket().iterate<R>({
        // Partners send the hash only; the server runs its manifest's text. Others send the text
        // (one message per subscription: nothing to save by registering it).
        query: mode === "trusted" ? "" : doc.text,
        operationName: doc.operationName,
        variables: (variables ?? {}) as Record<string, unknown>,
        ...(mode === "trusted" && { extensions: { persistedQuery: { version: 1, sha256Hash: doc.hash } } }),
      });
      const iterator: AsyncIterableIterator<R> = {
        async next() {
          try {
            const result = await source.next();
            if (result.done) return { done: true, value: undefined };
            if (result.value.errors?.length) throw new CartwheelError(result.value.errors as ClientError[], 200);
            return { done: false, value: result.value.data as R };
          } catch (error) {
            await source.return?.();
            throw error instanceof CartwheelError ? error : new CartwheelError(Array.isArray(error) ? error : [{ message: String((error as Error)?.message ?? error) }], 0);
          }
        },
        async return() {
          await source.return?.();
          return { done: true, value: undefined };
        },
        [Symbol.asyncIterator]() {
          return iterator;
        },
      };
      return iterator;
    },

    /** Closes the WebSocket, if one was opened. */
    async dispose(): Promise<void> {
      await ws?.dispose();
    },
  };
}

export type CartwheelClient = ReturnType<typeof createCartwheelClient>;

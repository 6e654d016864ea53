import { NetworkError, createClient } from "graphql-sse";
import { backoff, type ReconnectOptions } from "./backoff.ts";
import { CartwheelError, clientError, type ClientError } from "./errors.ts";
import type { Subscriber } from "./resume.ts";

/** graphql-sse's server pings every stream this often (a comment line); the client counts on it. */
const SERVER_PING_MS = 12_000;

export interface SseOptions {
  /** http(s)://host:port/graphql/stream */
  url: string;
  /** The request headers (authorization, x-partner-key), read on every (re)connection. */
  headers: () => Record<string, string>;
  reconnect?: ReconnectOptions;
  /**
   * How long the response may take to start, and how long a stream may stay silent beyond the
   * server's 12 s ping, before the connection is dropped and reopened. 0: no limit. Default 10 000 ms.
   */
  timeoutMs?: number;
}

/** The answer a request was refused with before any stream opened (401, 400, …), as the iteration's error. */
async function refusal(response: Response): Promise<CartwheelError> {
  const body = (await response.json().catch(() => undefined)) as { errors?: ClientError[] } | undefined;
  if (body?.errors?.length) return new CartwheelError(body.errors, response.status);
  const code = response.status === 401 ? "UNAUTHENTICATED" : response.status === 403 ? "FORBIDDEN" : "BAD_USER_INPUT";
  return new CartwheelError([{ message: `HTTP ${response.status}`, extensions: { code } }], response.status);
}

/** The last event of a stream whose credentials stopped being good (server/sse.ts). */
function endedForCredentials(result: unknown): boolean {
  const { data, errors } = result as { data?: unknown; errors?: ClientError[] };
  return data == null && errors?.length === 1 && errors[0]!.extensions?.code === "UNAUTHENTICATED";
}

/** Statuses worth another attempt: the server is away, overloaded or draining. Other 4xx are answers. */
const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * `body`, erroring when nothing (not even the server's ping) arrives for `ms`: graphql-sse then
 * takes the stream for dropped and reconnects. A dead network otherwise leaves a stream hanging.
 */
function withIdleTimeout(body: ReadableStream<Uint8Array>, ms: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the stream was silent for ${ms} ms`)), ms);
      });
      try {
        const chunk = await Promise.race([reader.read(), silent]);
        if (chunk.done) controller.close();
        else controller.enqueue(chunk.value);
      } catch (error) {
        void reader.cancel(error).catch(() => {});
        controller.error(error);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * GraphQL over SSE (graphql-sse's client, distinct connections mode: one streaming request per
 * subscription). graphql-sse re-sends the request body, serialized afresh, on every reconnection,
 * so `resumable`'s `after` resumes it exactly as over the WebSocket. It retries only network
 * errors; a refusal (401 bad token, 400, …) ends the subscription with the server's errors.
 */
export function sseTransport(options: SseOptions): { subscribe: Subscriber; dispose(): void } {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const open = new Set<() => void>();
  return {
    subscribe(request, sink) {
      // One graphql-sse client per subscription (distinct connections anyway): its retry
      // decision needs this subscription's last response.
      let last: Response | undefined;
      // The headers of the latest request, to tell whether the credentials have changed since.
      let sent: string | undefined;
      const changed = () => JSON.stringify(options.headers()) !== sent;
      const retry = backoff(options.reconnect);
      const client = createClient({
        url: options.url,
        headers: () => {
          const headers = options.headers();
          sent = JSON.stringify(headers);
          return headers;
        },
        retryAttempts: options.reconnect?.attempts ?? Infinity,
        retry: async (retries) => {
          // graphql-sse retries every non-2xx answer: only those that may change are retried
          // here, and a 401 only with other credentials than the ones it refused.
          if (last && !last.ok && !retryable(last.status) && !(last.status === 401 && changed())) throw await refusal(last);
          // graphql-sse does not read a refusal's body: let its connection go.
          if (last && !last.ok) void last.body?.cancel().catch(() => {});
          await retry.wait(retries);
        },
        fetchFn: async (input: RequestInfo | URL, init?: RequestInit) => {
          last = undefined;
          // A limit until the response starts; the body itself is guarded by withIdleTimeout.
          const starting = new AbortController();
          const signal = init?.signal ? AbortSignal.any([init.signal, starting.signal]) : starting.signal;
          const timer = timeoutMs > 0 ? setTimeout(() => starting.abort(new Error(`no response within ${timeoutMs} ms`)), timeoutMs) : undefined;
          try {
            const response = await fetch(input, { ...init, signal });
            last = response;
            if (!response.ok || !response.body || timeoutMs <= 0) return response;
            return new Response(withIdleTimeout(response.body, SERVER_PING_MS + timeoutMs), response);
          } finally {
            clearTimeout(timer);
          }
        },
      });
      // A stream whose token expired or whose session was revoked ends with an UNAUTHENTICATED
      // event: when the app has other credentials by then, subscribe again with them instead.
      let renew = false;
      const start = () =>
        client.subscribe(request as never, {
          next: (result) => {
            if (!renew && endedForCredentials(result) && changed()) renew = true;
            else if (!renew) sink.next(result as never);
          },
          error: (error) => {
            open.delete(dispose);
            sink.error(error);
          },
          complete: () => {
            if (renew) {
              renew = false;
              unsubscribe = start();
              return;
            }
            open.delete(dispose);
            sink.complete();
          },
        });
      let unsubscribe = start();
      const dispose = () => {
        open.delete(dispose);
        retry.cancel();
        unsubscribe();
        client.dispose();
      };
      open.add(dispose);
      return dispose;
    },
    dispose() {
      for (const dispose of [...open]) dispose();
    },
  };
}

/** What an SSE subscription ends with: its GraphQL errors, a refusal, or why the connection ended for good. */
export function sseFailure(error: unknown): CartwheelError {
  if (error instanceof CartwheelError) return error;
  if (Array.isArray(error)) return new CartwheelError(error as ClientError[], 200);
  if (error instanceof NetworkError) {
    const status = (error.response as { status?: number } | undefined)?.status;
    return clientError("CONNECTION_CLOSED", error.message, status === undefined ? {} : { status });
  }
  return clientError("CONNECTION_CLOSED", error instanceof Error ? error.message : String(error));
}

// GraphQL over SSE (/graphql/stream) at the byte level: every field of every event, `id:` lines
// included (graphql-sse's own client drops them), with bounded waits.
import { createClient, type Client } from "graphql-sse";
import { disposeLater } from "./dispose.ts";
import type { GqlError } from "./http.ts";

/** What a `next` event carries: an execution result, its data of the shape the test names (`R`). */
export interface SseResult<R = unknown> {
  data?: R | null;
  errors?: GqlError[];
  extensions?: { cursor?: string; [key: string]: unknown };
}

export interface SseEvent<R = unknown> {
  event: string;
  id: string | undefined;
  /** The parsed `data:` field (null when the event has none, as `complete`). */
  data: SseResult<R> | null;
}

/** A non-stream answer's body (a refusal: 401, 405, …), null when empty. */
export type RefusedBody = { errors?: GqlError[] } | null;

export interface OpenStream {
  status: number;
  headers: Headers;
  /**
   * The next event (pings skipped), or rejects after `ms`; rejects with "stream ended" when it ended
   * first. `R` is the data's shape, as the test knows it from the document it sent.
   */
  next<R = unknown>(ms?: number): Promise<SseEvent<R>>;
  /** Resolves once the response has ended (by the server), with whether a `complete` event came; rejects after `ms`. */
  ended(ms?: number): Promise<{ completed: boolean }>;
  /** Every event received so far. */
  readonly events: SseEvent[];
  close(): void;
}

export interface StreamRequest {
  query?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
  operationName?: string;
  documentId?: string;
}

/**
 * Opens `streamUrl` (…/graphql/stream) with POST (JSON body) or GET (query string), Accept:
 * text/event-stream. A non-stream answer (401, 405, …) comes back as `{ status, json }`.
 */
export async function openStream(
  streamUrl: string,
  request: StreamRequest,
  options: { method?: "GET" | "POST"; token?: string; headers?: Record<string, string> } = {},
): Promise<OpenStream | { status: number; json: RefusedBody; headers: Headers }> {
  const method = options.method ?? "POST";
  const controller = new AbortController();
  const headers: Record<string, string> = {
    accept: "text/event-stream",
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...options.headers,
  };
  let url = streamUrl;
  let body: string | undefined;
  if (method === "GET") {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(request)) {
      if (value !== undefined) search.set(key, typeof value === "string" ? value : JSON.stringify(value));
    }
    url = `${streamUrl}?${search}`;
  } else {
    headers["content-type"] = "application/json";
    body = JSON.stringify(request);
  }
  const res = await fetch(url, { method, headers, body, signal: controller.signal });
  if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as RefusedBody) : null };
  }
  const events: SseEvent[] = [];
  let consumed = 0;
  let done = false;
  let completed = false;
  let wake: (() => void) | undefined;
  void (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished) break;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue; // a comment (the server's ping)
            const colon = line.indexOf(":");
            const name = colon < 0 ? line : line.slice(0, colon);
            const raw = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            fields[name] = name in fields && name === "data" ? `${fields[name]}\n${raw}` : raw;
          }
          if (!fields.event) continue;
          if (fields.event === "complete") completed = true;
          events.push({ event: fields.event, id: fields.id, data: fields.data ? (JSON.parse(fields.data) as SseResult) : null });
          wake?.();
        }
      }
    } catch {
      // Aborted by close(), or cut by the server.
    } finally {
      done = true;
      wake?.();
    }
  })();
  const until = async <T>(ready: () => T | undefined, ms: number, what: string): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };
  return {
    status: res.status,
    headers: res.headers,
    events,
    // The data's shape is the caller's to name: the stream parses whatever the server sent.
    next: <R = unknown>(ms = 5_000) =>
      until(
        () => {
          if (consumed < events.length) return events[(consumed += 1) - 1];
          if (done) throw new Error("stream ended");
          return undefined;
        },
        ms,
        "no event",
      ) as Promise<SseEvent<R>>,
    ended: (ms = 5_000) => until(() => (done ? { completed } : undefined), ms, "stream not ended"),
    close: () => controller.abort(),
  };
}

/** The stream, or fails the test with what came instead. */
export function asStream(answer: Awaited<ReturnType<typeof openStream>>): OpenStream {
  if (!("next" in answer)) throw new Error(`expected an event stream, got ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer;
}

/** graphql-sse's own client (distinct connections mode), never retrying: a test sees every failure. */
/** A graphql-sse client (no retries); disposed after the test (or file) at the latest. */
export function sseClient(streamUrl: string, headers: Record<string, string> = {}): Client {
  const client = createClient({ url: streamUrl, headers, retryAttempts: 0 });
  const dispose = client.dispose.bind(client);
  client.dispose = disposeLater(dispose);
  return client;
}

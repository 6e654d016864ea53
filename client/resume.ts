import { CartwheelError, type ClientError } from "./errors.ts";

/** What a transport sends to start a subscription (graphql-ws's and graphql-sse's SubscribePayload). */
export interface SubscribeRequest {
  query: string;
  operationName?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

/** One result of a subscription, as a transport delivers it. */
export interface SubscriptionResult {
  data?: unknown;
  errors?: readonly ClientError[];
  extensions?: Record<string, unknown>;
}

export interface Sink {
  next(result: SubscriptionResult): void;
  /** The transport gave up: no reconnection will follow. */
  error(error: unknown): void;
  complete(): void;
}

/**
 * A transport's subscribe (graphql-ws's and graphql-sse's `client.subscribe` have this shape). It
 * must read `request` each time it (re)sends it, after every reconnect: that is how a
 * reconnection resumes after the last event received (see `resumable`).
 */
export type Subscriber = (request: SubscribeRequest, sink: Sink) => () => void;

/** A subscription's results, in order; leaving a for-await loop (or `return()`) unsubscribes. */
export interface CartwheelSubscription<R> extends AsyncIterableIterator<R> {
  /**
   * The cursor of the last result this iterator has yielded (the `after` it was started with,
   * until then; undefined when neither). Persist it to resume after a restart:
   * `client.subscribe(document, variables, { after: cursor })`.
   */
  readonly cursor: string | undefined;
  /** Unsubscribes; the iterator is done from then on. */
  return(): Promise<IteratorResult<R, undefined>>;
}

/** An event's cursor: its result's `extensions.cursor`, else a `cursor` field of the root field's value. */
export function cursorOf(result: SubscriptionResult): string | undefined {
  const cursor = result.extensions?.cursor;
  if (typeof cursor === "string") return cursor;
  if (result.data && typeof result.data === "object") {
    for (const value of Object.values(result.data)) {
      const field = (value as { cursor?: unknown } | null)?.cursor;
      if (typeof field === "string") return field;
    }
  }
  return undefined;
}

/**
 * A subscription that resumes by itself: the request's `after` variable is always the cursor of
 * the last event received (or `after` as given, before the first), so whenever the transport
 * reconnects and sends the request again, the server replays exactly what came after it and then
 * continues live: the iterator goes on with nothing missing and nothing repeated.
 *
 * `failure` turns what the transport gave up with into the CartwheelError the iterator ends with.
 * Results with errors end it too (CURSOR_EXPIRED among them: refetch, then subscribe without `after`).
 */
export function resumable<R>(
  subscribe: Subscriber,
  request: SubscribeRequest,
  options: {
    after: string | undefined;
    failure: (error: unknown) => CartwheelError;
    /** Called once when the subscription ends, however it ends. */
    onEnd?: () => void;
  },
): CartwheelSubscription<R> {
  const { after, failure } = options;
  const base = request.variables ?? {};
  // The resume point (last received) runs ahead of `delivered` by what is queued, unread.
  let received = after;
  let delivered = after;
  const queue: { data: R; cursor: string | undefined }[] = [];
  let error: CartwheelError | undefined;
  let ended = false;
  let waiters: (() => void)[] = [];
  const wake = () => {
    const woken = waiters;
    waiters = [];
    for (const resolve of woken) resolve();
  };
  let dispose: (() => void) | undefined;
  const end = () => {
    ended = true;
    options.onEnd?.();
    wake();
  };
  const stop = () => {
    if (ended) return;
    end();
    dispose?.();
  };

  const payload: SubscribeRequest = {
    query: request.query,
    ...(request.operationName !== undefined && { operationName: request.operationName }),
    ...(request.extensions && { extensions: request.extensions }),
    // A getter, read when the transport serializes the request: on every (re)send.
    get variables() {
      return received === undefined ? base : { ...base, after: received };
    },
  };

  dispose = subscribe(payload, {
    next(result) {
      if (ended) return;
      if (result.errors?.length) {
        error = new CartwheelError([...result.errors], 200);
        stop();
        return;
      }
      const cursor = cursorOf(result);
      if (cursor !== undefined) received = cursor;
      queue.push({ data: result.data as R, cursor });
      wake();
    },
    error(reason) {
      if (ended) return;
      error = failure(reason);
      end();
    },
    complete() {
      if (!ended) end();
    },
  });
  if (ended) dispose();

  const iterator: CartwheelSubscription<R> = {
    get cursor() {
      return delivered;
    },
    async next() {
      for (;;) {
        const item = queue.shift();
        if (item) {
          if (item.cursor !== undefined) delivered = item.cursor;
          return { done: false, value: item.data };
        }
        if (error) {
          const thrown = error;
          error = undefined;
          throw thrown;
        }
        if (ended) return { done: true, value: undefined };
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async return() {
      stop();
      queue.length = 0;
      error = undefined;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

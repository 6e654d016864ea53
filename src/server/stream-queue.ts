import type { ExecutionResult } from "graphql";
import type { Viewer } from "../auth/roles.ts";

/** How often a stream that is over its cap is looked at again (Node's 'drain' is not emitted below the high-water mark). */
const RECHECK_MS = 25;

/**
 * A subscription whose events the fan-out hands over as results, one at a time, to a transport
 * that writes them itself (GraphQL over SSE: graphql-sse pulls them from `StreamQueue` and prints
 * each as an event).
 */
export interface StreamTarget {
  /** The viewer of the request as it is now (a role change applies from the next event). */
  viewer: () => Viewer | null;
  /** Bytes the connection holds that the client has not taken yet (Node's `writableLength`). */
  bufferedAmount: () => number;
  /** Ends the stream because the client stayed behind (it reconnects with Last-Event-ID and is replayed what it missed). */
  tooSlow: () => void;
}

export const isStreamTarget = (target: object): target is StreamTarget => "bufferedAmount" in target;

export interface StreamQueueOptions {
  /** Unsent bytes the connection may hold before results wait here instead (WS_MAX_BUFFERED_BYTES). */
  maxBufferedBytes: number;
  /** How long a result may wait here before the stream is ended as too slow (WS_BACKLOG_TIMEOUT). */
  backlogTimeoutMs: number;
  /** Results that may wait here before the stream is ended as too slow at once. */
  maxEvents: number;
}

/**
 * One stream subscriber's share of its group's results, bounded: a result is handed to the
 * transport only while the connection holds at most `maxBufferedBytes` unsent (so the bytes
 * pile up here, countable, not inside graphql-sse's unbounded message list or Node's buffers);
 * a stream with more than `maxEvents` results waiting, or with one waiting longer than
 * `backlogTimeoutMs`, is ended with `target.tooSlow()`, as a WebSocket is closed with 4008.
 * Results are not coalesced: each carries its own cursor (the SSE event id).
 */
export class StreamQueue implements AsyncIterableIterator<ExecutionResult> {
  private readonly waiting: { result: ExecutionResult; since: number }[] = [];
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private left = false;
  private failure: unknown;

  constructor(
    private readonly target: StreamTarget,
    private readonly options: StreamQueueOptions,
    /** Called once when the transport stops reading (return/throw) or the stream is ended as too slow. */
    private readonly onLeave: () => void,
  ) {}

  /** A result of the group (already executed and formatted, shared with the other members). */
  push(result: ExecutionResult): void {
    if (this.done) return;
    this.waiting.push({ result, since: Date.now() });
    if (this.waiting.length > this.options.maxEvents) return this.tooSlow();
    this.timer ??= setTimeout(() => this.checkAge(), this.options.backlogTimeoutMs).unref();
    this.wake?.();
  }

  /** The group ended: what is waiting is still handed out, then the iterator ends (or throws `error`). */
  end(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    this.wake?.();
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    for (;;) {
      const first = this.waiting[0];
      if (first && this.target.bufferedAmount() <= this.options.maxBufferedBytes) {
        this.waiting.shift();
        if (this.waiting.length === 0) this.clearTimer();
        return { done: false, value: first.result };
      }
      if (!first && this.done) {
        if (this.failure === undefined) return { done: true, value: undefined };
        const error = this.failure;
        this.failure = undefined;
        throw error;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        // Over the cap: look again shortly (a push or an end wakes it sooner).
        if (first) setTimeout(resolve, RECHECK_MS).unref();
      });
      this.wake = undefined;
    }
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.leave();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.leave();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private checkAge(): void {
    this.timer = undefined;
    const first = this.waiting[0];
    if (!first || this.done) return;
    const waited = Date.now() - first.since;
    if (waited >= this.options.backlogTimeoutMs) return this.tooSlow();
    this.timer = setTimeout(() => this.checkAge(), this.options.backlogTimeoutMs - waited).unref();
  }

  private tooSlow(): void {
    this.leave();
    this.target.tooSlow();
  }

  private leave(): void {
    this.done = true;
    this.waiting.length = 0;
    this.clearTimer();
    this.wake?.();
    if (this.left) return;
    this.left = true;
    this.onLeave();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

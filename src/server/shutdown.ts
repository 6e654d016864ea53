import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";

/**
 * The server's lifecycle as one value. `draining`: a signal arrived; readiness answers 503 and
 * everything is still served (load balancers take the instance out). `stopping`: the listener is
 * closed; in-flight requests finish, keep-alive sockets close after their response, SSE streams
 * end and WebSockets close with 1001. `stopped`: nothing of the transport is left.
 */
export type Phase = "starting" | "started" | "draining" | "stopping" | "stopped";

export interface LifecycleOptions {
  server: Server;
  /** How long `draining` lasts before the listener closes (SHUTDOWN_DELAY, default 5 s; 0 in tests). */
  delayMs: number;
  /**
   * How long `stopping` may take (SHUTDOWN_TIMEOUT, default 30 s): in-flight requests, however
   * slow, get this long to answer and WebSockets to close. Past it every connection is cut and
   * drain() rejects with ShutdownTimeoutError.
   */
  timeoutMs: number;
  webSockets: {
    /** Closes every WebSocket (1001 Going Away) and resolves once they are gone. */
    close(): Promise<void>;
    /** Drops whatever is left without a close handshake (after timeoutMs). */
    terminate(): void;
  };
  /**
   * Open GraphQL over SSE responses, which never finish by themselves. Closed before the
   * WebSockets: `close` ends every stream at once, before its subscription can complete.
   */
  streams?: {
    /** Ends every stream (without `complete`: clients reconnect with Last-Event-ID) and resolves once they are closed. */
    close(): Promise<void>;
    /** Cuts whatever is left (after timeoutMs). */
    terminate(): void;
  };
  log: Logger;
}

/** Close code and reason every WebSocket gets when the server shuts down. */
export const GOING_AWAY = { code: 1001, reason: "server shutting down" } as const;

export class ShutdownTimeoutError extends Error {}

/**
 * Tracks in-flight HTTP requests and drains them on shutdown. Construct it right after
 * createServer(), before the request handler is attached: its `request` listener must run first,
 * so that a response the handler writes at once already carries `Connection: close`.
 */
export class Lifecycle {
  #phase: Phase = "starting";
  /** Requests whose response has not finished, per socket (a keep-alive socket may pipeline). */
  readonly #pending = new Map<Socket, number>();
  readonly #responses = new Set<ServerResponse>();
  #draining: Promise<void> | undefined;

  constructor(private readonly options: LifecycleOptions) {
    options.server.on("request", (req: IncomingMessage, res: ServerResponse) => this.#track(req, res));
  }

  get phase(): Phase {
    return this.#phase;
  }

  started(): void {
    this.#phase = "started";
  }

  /** Requests whose response has not finished yet. */
  get inFlight(): number {
    return this.#responses.size;
  }

  /**
   * draining (for delayMs) -> stopping (until every request is answered and every socket is
   * closed, at most timeoutMs) -> stopped. Safe to call twice: the second call waits for the first.
   */
  drain(): Promise<void> {
    return (this.#draining ??= this.#drain());
  }

  async #drain(): Promise<void> {
    const { server, delayMs, timeoutMs, webSockets, streams, log } = this.options;
    this.#phase = "draining";
    // From here on no response invites the client to reuse its socket: by the time the listener
    // closes, keep-alive clients have moved to fresh connections (to another instance, behind a
    // load balancer), and few idle sockets are left to close under a client's feet.
    for (const res of this.#responses) closeAfter(res);
    if (delayMs > 0) {
      log.info({ delayMs }, "draining: readiness is 503, still serving");
      await sleep(delayMs);
    }
    this.#phase = "stopping";
    log.info({ inFlight: this.inFlight }, "stopping: listener closed, finishing in-flight requests");
    // Node's close() also closes the sockets that are idle now; the others end after their
    // current response (see #track), and close's callback fires when the last one is gone.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const done = Promise.all([closed, streams?.close(), webSockets.close()]);
    // Past the timeout nobody waits on it any more: a late failure must not be an unhandled rejection.
    done.catch((error: unknown) => log.warn({ err: (error as Error).message }, "closing after the shutdown timeout failed"));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(resolve, timeoutMs, "timeout")));
    try {
      if ((await Promise.race([done, timeout])) === "timeout") {
        const cut = this.inFlight;
        server.closeAllConnections();
        streams?.terminate();
        webSockets.terminate();
        throw new ShutdownTimeoutError(`shutdown exceeded SHUTDOWN_TIMEOUT (${timeoutMs} ms): ${cut} request(s) cut off`);
      }
    } finally {
      clearTimeout(timer);
      this.#phase = "stopped";
    }
  }

  #track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const pending = this.#pending.get(socket);
    if (pending === undefined) socket.once("close", () => this.#pending.delete(socket));
    this.#pending.set(socket, (pending ?? 0) + 1);
    this.#responses.add(res);
    if (this.#phase !== "started") closeAfter(res);
    res.once("close", () => {
      this.#responses.delete(res);
      const left = (this.#pending.get(socket) ?? 1) - 1;
      if (!socket.destroyed) this.#pending.set(socket, left);
      // A response whose headers went out before the drain began still said keep-alive.
      if (left === 0 && (this.#phase === "stopping" || this.#phase === "stopped")) socket.end();
    });
  }
}

/** Tells the client not to reuse the socket; Node then closes it once this response is written. */
function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader("connection", "close");
}

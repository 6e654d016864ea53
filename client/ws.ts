import { CloseCode, createClient, type Client } from "graphql-ws";
import { WebSocket } from "ws";
import { CartwheelError, clientError, type ClientError } from "./errors.ts";
import { backoff, type ReconnectOptions } from "./backoff.ts";
import type { Subscriber } from "./resume.ts";

export interface WebSocketOptions {
  /** ws(s)://host:port/graphql */
  url: string;
  /** The connection_init payload, read on every (re)connection (so a refreshed token is picked up). */
  connectionParams: () => Record<string, unknown>;
  reconnect?: ReconnectOptions;
  /** How often an idle connection is pinged (0: never). Default 15 000 ms. */
  keepAliveMs?: number;
  /**
   * How long opening a connection (upgrade and connection_ack) and each ping's pong may take; a
   * connection that takes longer is dropped and reopened, so a dead network is noticed. 0: no
   * limit. Default 10 000 ms.
   */
  timeoutMs?: number;
}

/**
 * Close codes after which reconnecting cannot help (graphql-ws itself never retries 4004, 4005,
 * 4400, 4401, 4406, 4409, 4429, 4500, nor 1xxx codes but 1000, 1001, 1005, 1006 and 1012–1014):
 * 4403 (the token is bad, expired or revoked: graphql-ws would retry it, and a revoked session
 * for ever; see shouldRetry for the one exception) and 4008, the server's "too slow"
 * (src/server/fanout.ts CLOSE_TOO_SLOW), after which the app should refetch.
 */
const NO_RETRY: ReadonlySet<number> = new Set([CloseCode.Forbidden, 4008]);

interface CloseEventLike {
  code: number;
  reason: string;
}

function isCloseEvent(value: unknown): value is CloseEventLike {
  return typeof value === "object" && value !== null && "code" in value && "reason" in value;
}

/**
 * Whether graphql-ws should reconnect after `error`: close events but those in NO_RETRY, and
 * network errors (not the client's own Errors). A 4403 is retried when the credentials have
 * changed since that connection was opened (`credentialsChanged`: the app refreshed its token,
 * and the old one has expired or its session was revoked), never with the same ones.
 */
export function shouldRetry(error: unknown, credentialsChanged: () => boolean = () => false): boolean {
  if (isCloseEvent(error)) return error.code === CloseCode.Forbidden ? credentialsChanged() : !NO_RETRY.has(error.code);
  // ws reports a failed connection (refused, reset, handshake timeout) as an ErrorEvent, which is
  // no Error; an Error is the client's own failure (a throwing token getter), retrying won't help.
  return !(error instanceof Error);
}

/** What a WebSocket subscription ends with: its GraphQL errors, or why the connection ended for good. */
export function webSocketFailure(error: unknown): CartwheelError {
  if (Array.isArray(error)) return new CartwheelError(error as ClientError[], 200);
  if (isCloseEvent(error)) {
    const details = { closeCode: error.code, reason: error.reason };
    if (error.code === CloseCode.Forbidden || error.code === CloseCode.Unauthorized) {
      return clientError("UNAUTHENTICATED", error.reason || "Forbidden", details);
    }
    return clientError("CONNECTION_CLOSED", `connection closed: ${error.code} ${error.reason}`.trim(), details);
  }
  const message = (error as { message?: unknown } | null)?.message;
  return clientError("CONNECTION_CLOSED", typeof message === "string" && message ? message : String(error));
}

/**
 * A graphql-ws client that reconnects with backoff (for ever by default) unless the close code
 * says retrying cannot help (NO_RETRY), and notices a dead connection by ping: a pong that does
 * not come within `timeoutMs` drops the socket, and graphql-ws reconnects and re-sends every
 * subscription's request (which `resumable` keeps pointing after the last event received).
 */
export function webSocketTransport(options: WebSocketOptions): { subscribe: Subscriber; dispose(): Promise<void> } {
  const timeoutMs = options.timeoutMs ?? 10_000;
  // ws's own upgrade timeout: graphql-ws has none, and a connect into a dead network would hang.
  class TimedWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, timeoutMs > 0 ? { handshakeTimeout: timeoutMs } : {});
    }
  }
  let socket: WebSocket | undefined;
  let pongTimer: NodeJS.Timeout | undefined;
  const retry = backoff(options.reconnect);
  // The connection_init payload of the latest connection.
  let sent: string | undefined;
  const client: Client = createClient({
    url: options.url,
    webSocketImpl: TimedWebSocket,
    connectionParams: () => {
      const params = options.connectionParams();
      sent = JSON.stringify(params);
      return params;
    },
    retryAttempts: options.reconnect?.attempts ?? Infinity,
    retryWait: retry.wait,
    shouldRetry: (error) => shouldRetry(error, () => JSON.stringify(options.connectionParams()) !== sent),
    keepAlive: options.keepAliveMs ?? 15_000,
    connectionAckWaitTimeout: timeoutMs,
    on: {
      opened: (opened) => (socket = opened as WebSocket),
      ping: (received) => {
        if (received || timeoutMs <= 0) return;
        const pinged = socket;
        clearTimeout(pongTimer);
        // terminate(), not close(): a close handshake on a dead connection waits 30 s for the peer.
        pongTimer = setTimeout(() => pinged?.terminate(), timeoutMs);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
      closed: () => {
        clearTimeout(pongTimer);
        socket = undefined;
      },
    },
  });
  return {
    subscribe: (request, sink) => client.subscribe(request, sink as Parameters<Client["subscribe"]>[1]),
    /**
     * Closes the socket. Subscriptions still running are closed too (graphql-ws completes them).
     * While waiting to reconnect, graphql-ws waits for the attempt (and rejects when it finds no
     * subscription left): the wait is cut short, and the rejection means nothing is open.
     */
    dispose: async () => {
      const disposed = Promise.resolve(client.dispose()).catch(() => {});
      retry.cancel();
      await disposed;
    },
  };
}

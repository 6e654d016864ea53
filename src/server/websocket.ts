import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { GraphQLError, getOperationAST, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { WebSocketServer } from "ws";
import type { Viewer } from "../auth/roles.ts";
import type { ConnectionControl, Context } from "../graphql/context.ts";
import { AppError } from "../graphql/errors.ts";
import type { Fanout, Target } from "./fanout.ts";
import { ENDED_MESSAGES, followViewer, type LiveViewer, type WatchViewer } from "./live-viewer.ts";
import type { Metrics } from "./metrics.ts";
import type { Operations } from "./operations.ts";
import { PARTNER_KEY_HEADER } from "./persisted/trusted-documents.ts";
import { codesOf, noteErrors, type RequestLog } from "./request-log.ts";

/** WebSocket close code 1013 (RFC 6455 registry): a temporary server condition; the client should retry. */
export const TRY_AGAIN_LATER = 1013;

export interface WebSocketDeps {
  schema: GraphQLSchema;
  /** Verifies a bearer token; throws when it is invalid, expired or revoked. */
  authenticate: (token: string) => Promise<Viewer>;
  /** The operation's context; `request` is the socket's upgrade request (for the client address). */
  context: (viewer: Viewer | null, connection: ConnectionControl, request: IncomingMessage) => Context;
  /** Follows the viewer's sessions and role on every instance (revocations close the socket with 4403). */
  watchViewer: WatchViewer;
  /** Shapes an error; an unexpected one is logged and masked with `requestId` (a fresh one when absent). */
  formatError: (error: GraphQLFormattedError, original: unknown, requestId?: string) => GraphQLFormattedError;
  /** One log line per operation when it ends, and the latency histogram. Absent: none. */
  requestLog?: RequestLog;
  /** Told of an unexpected failure while checking a connection's token (it is logged there). */
  onAuthenticationFailure?: (error: unknown) => void;
  metrics: Metrics;
  /**
   * Trusted-documents mode: staff may run any operation, so a socket whose user loses STAFF is
   * closed (4403) rather than left running operations that are no longer allowed.
   */
  closeOnDemotion?: boolean;
  /** Trusted documents, APQ, limits and validation, shared with GraphQL over SSE (server/operations.ts). */
  operations: Operations;
  /** The subscription fan-out, shared with GraphQL over SSE (its owner closes it). */
  fanout: Fanout;
}

type Extra = {
  viewer?: Viewer | null;
  live?: LiveViewer;
  control?: ConnectionControl;
};

/**
 * graphql-ws on the HTTP server's port at /graphql. The viewer is established at connection_init
 * (a bad token closes the socket with 4403) and the socket is closed with 4403 when its token expires.
 */
export function attachWebSocket(server: Server, deps: WebSocketDeps) {
  // The same 1 MiB ceiling as an HTTP body (ws would take 100 MiB messages).
  const wss = new WebSocketServer({ noServer: true, path: "/graphql", maxPayload: 1024 * 1024 });
  // Not ws's `server` option: it re-emits the HTTP server's errors (a listen that fails at start)
  // on the WebSocket server, where graphql-ws prints them with a stack as "internal errors".
  server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)));
  const { fanout, operations } = deps;
  // Each operation's context -> where its frames go (the fan-out writes them itself).
  const targets = new WeakMap<object, Target>();
  // Texts sent with their APQ hash: stored once the operation has parsed and validated.
  const toRegister = new WeakMap<object, { hash: string; text: string }>();
  // Each operation (by its subscribe payload, the same object in every hook) from its subscribe
  // message on: when it started, and its context once it has one.
  const running = new WeakMap<object, { startedAt: number; context?: Context }>();
  const ended = (ctx: { extra: { request: IncomingMessage } }, payload: object, outcome: "complete" | "error", refused?: { requestId: string; errors: GraphQLFormattedError[] }) => {
    const entry = running.get(payload);
    running.delete(payload);
    const context = entry?.context;
    deps.requestLog?.operation({
      context,
      requestId: context?.requestId ?? refused?.requestId ?? "",
      errorCodes: context?.report.errorCodes ?? codesOf(refused?.errors),
      startedAt: entry?.startedAt ?? performance.now(),
      request: ctx.extra.request,
      askedName: typeof (payload as { operationName?: unknown }).operationName === "string" ? (payload as { operationName: string }).operationName : undefined,
      outcome: outcome === "complete" && context?.report.errorCodes ? "error" : outcome,
    });
  };
  const format = (errors: readonly GraphQLError[], context: Context | undefined, requestId?: string) => {
    const formatted = errors.map((e) => deps.formatError(e.toJSON ? e.toJSON() : e, e, context?.requestId ?? requestId));
    noteErrors(context?.report, formatted, deps.metrics, "ws");
    return formatted;
  };
  const cleanup = useServer<Record<string, unknown> | undefined, Extra>(
    {
      schema: deps.schema,
      context: (ctx, id) => {
        const context = deps.context(ctx.extra.viewer ?? null, ctx.extra.control!, ctx.extra.request);
        targets.set(context, { id, socket: ctx.extra.socket, viewer: () => ctx.extra.viewer ?? null });
        return context;
      },
      // Through the fan-out: identical subscriptions of one scope share each event's execution, and
      // every subscription's delivery is bounded (server/fanout.ts).
      subscribe: (args) => fanout.subscribe(args, targets.get(args.contextValue as object)),
      onConnect: async (ctx) => {
        ctx.extra.control = {
          renew: (next) => {
            if (!ctx.extra.viewer) throw new Error("renewing an anonymous connection");
            Object.assign(ctx.extra.viewer, next);
            ctx.extra.live?.rearm();
          },
        };
        const header = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        if (header === undefined || header === null || header === "") {
          ctx.extra.viewer = null;
          return true;
        }
        const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
        if (!match) return false;
        let viewer: Viewer;
        try {
          viewer = await deps.authenticate(match[1]!);
        } catch (error) {
          // Only a token that is really invalid, expired or revoked is 4403 (clients log out on it).
          if (error instanceof GraphQLError && error.extensions.code === "UNAUTHENTICATED") return false;
          // A dependency failed while checking it (the database): 1013 Try Again Later, which
          // clients (graphql-ws's among them) retry.
          deps.onAuthenticationFailure?.(error);
          ctx.extra.socket.close(TRY_AGAIN_LATER, "Try again later: the credentials could not be checked");
          return false;
        }
        // One viewer object per connection: every operation's context reads it, so a renewal or
        // a role change applies to the next event of every subscription on this socket.
        ctx.extra.viewer = viewer;
        // Closed with 4403 when its token expires (re-armed on renewal), its session is revoked,
        // or (closeOnDemotion) it loses STAFF.
        ctx.extra.live = followViewer(viewer, deps, (why) => ctx.extra.socket.close(CloseCode.Forbidden, ENDED_MESSAGES[why]));
        // Closed while the token was being checked: onClose has run already, so stop following here.
        if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) {
          ctx.extra.live.stop();
          return false;
        }
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        running.set(payload, { startedAt: performance.now() });
        // Browsers cannot set headers on a WebSocket, so the key may come in connection_init too.
        const fromInit = ctx.connectionParams?.partnerKey;
        const fromHeader = ctx.extra.request.headers[PARTNER_KEY_HEADER];
        // A key that is there but not a key is refused, never taken for "no key".
        if (fromInit !== undefined && (typeof fromInit !== "string" || fromInit === "")) {
          return [new AppError("UNAUTHENTICATED", "Unknown partner key")];
        }
        const partnerKey = typeof fromInit === "string" ? fromInit : typeof fromHeader === "string" ? fromHeader : undefined;
        const prepared = await operations.prepare(payload, { partnerKey, viewer: ctx.extra.viewer ?? null }, "ws");
        if ("errors" in prepared) return prepared.errors;
        if (prepared.toRegister) toRegister.set(payload, prepared.toRegister);
        return prepared.args;
      },
      onOperation: (_ctx, _id, payload, args, result) => {
        const entry = toRegister.get(payload);
        if (entry) operations.register(entry);
        const operation = getOperationAST(args.document, args.operationName);
        const type = operation?.operation ?? "unknown";
        deps.metrics.operations.inc({ type, transport: "ws" });
        const context = args.contextValue as Context;
        context.report.type = type;
        context.report.name = operation?.name?.value;
        const state = running.get(payload);
        if (state) state.context = context;
        return result;
      },
      onNext: (_ctx, _id, _payload, args, result) => {
        if (!result.errors?.length) return result;
        return { ...result, errors: format(result.errors, args.contextValue as Context) } as unknown as typeof result;
      },
      onError: (ctx, _id, payload, errors) => {
        const context = running.get(payload)?.context;
        const requestId = context?.requestId ?? randomUUID();
        const formatted = format(errors, context, requestId);
        // Refused before it ran (limits, persisted queries, validation): graphql-ws completes nothing, so it ends here.
        if (!context) ended(ctx, payload, "error", { requestId, errors: formatted });
        return formatted as never;
      },
      onComplete: (ctx, _id, payload) => {
        if (running.has(payload)) ended(ctx, payload, "complete");
      },
      onClose: (ctx) => ctx.extra.live?.stop(),
    },
    wss,
  );
  wss.on("connection", (socket) => {
    deps.metrics.wsConnections.inc();
    socket.once("close", () => deps.metrics.wsConnections.dec());
  });
  return {
    wss,
    cleanup,
    /** Closes every socket with `code` and `reason`, stops graphql-ws, and resolves once all are closed. */
    async close(code: number, reason: string) {
      for (const socket of wss.clients) socket.close(code, reason);
      await cleanup.dispose();
    },
    /** Drops every socket without a close handshake. */
    terminate() {
      for (const socket of wss.clients) socket.terminate();
    },
  };
}

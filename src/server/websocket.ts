import type { IncomingMessage, Server } from "node:http";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { GraphQLError, getOperationAST, specifiedRules, validate, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { WebSocketServer } from "ws";
import { hasRole, type RoleName, type Viewer } from "../auth/roles.ts";
import type { ConnectionControl, Context } from "../graphql/context.ts";
import { AppError } from "../graphql/errors.ts";
import type { OperationLimits } from "../graphql/limits.ts";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { Fanout, type FanoutOptions, type Target } from "./fanout.ts";
import type { Metrics } from "./metrics.ts";
import { PARTNER_KEY_HEADER, type Decision, type RequestParams } from "./persisted/trusted-documents.ts";

/** WebSocket close code 1013 (RFC 6455 registry): a temporary server condition; the client should retry. */
export const TRY_AGAIN_LATER = 1013;

// setTimeout's ceiling (~24.8 days); longer lifetimes are re-armed when it fires.
const MAX_TIMER_MS = 2_147_483_647;

export interface WebSocketDeps {
  schema: GraphQLSchema;
  /** Verifies a bearer token; throws when it is invalid, expired or revoked. */
  authenticate: (token: string) => Promise<Viewer>;
  /** The operation's context; `request` is the socket's upgrade request (for the client address). */
  context: (viewer: Viewer | null, connection: ConnectionControl, request: IncomingMessage) => Context;
  /**
   * Follows changes to a user's sessions and role, from every instance: `revoked(sessionIds)`
   * ("all" for every session) and `role(newRole)`. Returns the function that stops following.
   */
  watchViewer: (userId: string, on: { revoked(sessions: string[] | "all"): void; role(role: Viewer["role"]): void }) => () => void;
  formatError: (error: GraphQLFormattedError, original: unknown) => GraphQLFormattedError;
  /** Told of an unexpected failure while checking a connection's token (it is logged there). */
  onAuthenticationFailure?: (error: unknown) => void;
  metrics: Metrics;
  /** Partner keys and trusted documents, as over HTTP (see TrustedDocuments.decide). */
  trustedDocuments?: (partnerKey: string | undefined, params: RequestParams, isStaff: () => Promise<boolean>) => Promise<Decision>;
  /**
   * Trusted-documents mode: staff may run any operation, so a socket whose user loses STAFF is
   * closed (4403) rather than left running operations that are no longer allowed.
   */
  closeOnDemotion?: boolean;
  /** A context for executions shared by a group of subscribers (see FanoutOptions.sharedContext). */
  sharedContext: (role: RoleName | null, userId: string | undefined) => Context;
  /** Resumed subscriptions share live groups (FanoutOptions.resume). */
  resume?: FanoutOptions["resume"];
  /** The resume cursor of a subscription event (FanoutOptions.cursorOf). */
  cursorOf?: (event: unknown) => string | undefined;
  /** Root subscription fields whose events are the same for every subscriber of a role (see Fanout). */
  sharedRootFields: ReadonlySet<string>;
  /** Unsent bytes a socket may hold before its events are held back (WS_MAX_BUFFERED_BYTES). */
  maxBufferedBytes: number;
  /** How long a socket may stay behind before it is closed with 4008 (WS_BACKLOG_TIMEOUT). */
  backlogTimeoutMs: number;
  /** The same operation limits as over HTTP: document limits, cost budget, introspection. */
  limits: OperationLimits;
  /** The APQ store shared with HTTP (hex sha256 -> text); absent when APQ is off. */
  apq?: { get(hash: string): Promise<string | undefined>; set(hash: string, text: string): Promise<void> };
}

type Extra = {
  viewer?: Viewer | null;
  expiry?: NodeJS.Timeout;
  unwatch?: () => void;
  control?: ConnectionControl;
};

/** Closes the socket with 4403 when the viewer's token expires (re-armed on renewal). */
function armExpiry(extra: Extra & { socket: { close(code: number, reason: string): void } }): void {
  clearTimeout(extra.expiry);
  const viewer = extra.viewer;
  if (!viewer) return;
  const remaining = viewer.tokenExpiresAt.getTime() - Date.now();
  extra.expiry = setTimeout(
    // Checked against the clock when it fires: a timer may fire a millisecond early, and a long
    // lifetime is waited out in several legs.
    () => (viewer.tokenExpiresAt.getTime() > Date.now() ? armExpiry(extra) : extra.socket.close(CloseCode.Forbidden, "Forbidden: access token expired")),
    Math.max(0, Math.min(remaining, MAX_TIMER_MS)),
  );
  extra.expiry.unref();
}

// Parsed and validated documents by text: 5,000 clients subscribing with the same document are
// checked once (the cost budget, which depends on each subscribe's variables and viewer, is
// checked every time). Bounded in entries and text size; a miss only costs the check.
type DocumentCache = BoundedCache<DocumentNode>;

/**
 * Parses and validates here rather than in graphql-ws, which closes the whole socket (4500) on a
 * syntax error: a bad document fails its own operation with BAD_USER_INPUT, as over HTTP. The
 * operation limits come first, so a hostile document gets one QUERY_TOO_COMPLEX and no more.
 */
function executionArgs(
  deps: Pick<WebSocketDeps, "schema" | "limits" | "metrics">,
  documents: DocumentCache,
  payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
  caller: { role: Viewer["role"] | undefined; partner: boolean },
) {
  const { schema, limits } = deps;
  let document = documents.get(payload.query);
  deps.metrics.wsDocuments.inc({ result: document ? "hit" : "miss" });
  if (!document) {
    const checked = limits.checkDocument(payload.query);
    if ("error" in checked) {
      const { error } = checked;
      return [error.extensions.code ? error : new AppError("BAD_USER_INPUT", error.message, { reason: "GRAPHQL_PARSE_FAILED" })];
    }
    const invalid = validate(schema, checked.document, [...specifiedRules, ...limits.validationRules]);
    if (invalid.length > 0) return invalid.map((e) => new AppError("BAD_USER_INPUT", e.message, { reason: "GRAPHQL_VALIDATION_FAILED" }));
    document = checked.document;
    documents.set(payload.query, document);
  }
  const tooCostly = limits.checkCost(document, payload.operationName, payload.variables, caller);
  if (tooCostly) return [tooCostly];
  return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
}

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
  const documents: DocumentCache = new BoundedCache<DocumentNode>(1_000, 64 * 1024);
  const fanout = new Fanout({
    schema: deps.schema,
    sharedContext: (role, userId) => deps.sharedContext(role, userId),
    sharedRootFields: deps.sharedRootFields,
    formatError: deps.formatError,
    metrics: deps.metrics,
    maxBufferedBytes: deps.maxBufferedBytes,
    backlogTimeoutMs: deps.backlogTimeoutMs,
    cursorOf: deps.cursorOf,
    resume: deps.resume,
  });
  // Each operation's context -> where its frames go (the fan-out writes them itself).
  const targets = new WeakMap<object, Target>();
  // Texts sent with their APQ hash: stored once the operation has parsed and validated.
  const toRegister = new WeakMap<object, string>();
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
            armExpiry(ctx.extra);
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
        ctx.extra.unwatch = deps.watchViewer(viewer.userId, {
          revoked: (sessions) => {
            if (sessions === "all" || sessions.includes(viewer.sessionId)) {
              ctx.extra.socket.close(CloseCode.Forbidden, "Forbidden: session revoked");
            }
          },
          role: (role) => {
            const wasStaff = hasRole(viewer.role, "STAFF");
            viewer.role = role;
            if (deps.closeOnDemotion && wasStaff && !hasRole(role, "STAFF")) {
              ctx.extra.socket.close(CloseCode.Forbidden, "Forbidden: role changed");
            }
          },
        });
        armExpiry(ctx.extra);
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        // Browsers cannot set headers on a WebSocket, so the key may come in connection_init too.
        const fromInit = ctx.connectionParams?.partnerKey;
        const fromHeader = ctx.extra.request.headers[PARTNER_KEY_HEADER];
        // A key that is there but not a key is refused, never taken for "no key".
        if (fromInit !== undefined && (typeof fromInit !== "string" || fromInit === "")) {
          return [new AppError("UNAUTHENTICATED", "Unknown partner key")];
        }
        const partnerKey = typeof fromInit === "string" ? fromInit : typeof fromHeader === "string" ? fromHeader : undefined;
        const viewer = ctx.extra.viewer;
        const decision = deps.trustedDocuments
          ? await deps.trustedDocuments(partnerKey, payload, async () => !!viewer && hasRole(viewer.role, "STAFF"))
          : ({ kind: "pass" } as const);
        if (decision.kind === "refuse") return [decision.error];
        const caller = { role: viewer?.role, partner: decision.kind === "use" && decision.partnerId !== undefined };
        // What ends up in target.query is what runs (parsed and validated by executionArgs).
        const target = payload as { query: string };
        if (decision.kind === "use") {
          target.query = decision.entry.text;
          return executionArgs(deps, documents, payload, caller);
        }
        // APQ as over HTTP (graphql-ws requires a string query: hash-only requests send "").
        const hash = (payload.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
        if (typeof hash === "string" && deps.apq) {
          if (target.query !== "") {
            toRegister.set(payload, hash); // decide() has checked the hash against the text
          } else {
            const text = await deps.apq.get(hash);
            if (text === undefined) return [new AppError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")];
            target.query = text;
          }
        }
        if (target.query === "") {
          return [new AppError("BAD_USER_INPUT", deps.apq ? "Send the query text or its persisted query hash" : "Persisted queries are off: send the query text")];
        }
        return executionArgs(deps, documents, payload, caller);
      },
      onOperation: (_ctx, _id, payload, args, result) => {
        const hash = toRegister.get(payload);
        if (hash !== undefined && deps.apq) void deps.apq.set(hash, payload.query);
        const type = getOperationAST(args.document, args.operationName)?.operation ?? "unknown";
        deps.metrics.operations.inc({ type, transport: "ws" });
        return result;
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors?.length) return result;
        return { ...result, errors: result.errors.map((e) => deps.formatError(e.toJSON ? e.toJSON() : e, e)) } as unknown as typeof result;
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => deps.formatError(e.toJSON ? e.toJSON() : e, e)) as never,
      onClose: (ctx) => {
        clearTimeout(ctx.extra.expiry);
        ctx.extra.unwatch?.();
      },
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
      fanout.close();
      for (const socket of wss.clients) socket.close(code, reason);
      await cleanup.dispose();
    },
    /** Drops every socket without a close handshake. */
    terminate() {
      for (const socket of wss.clients) socket.terminate();
    },
  };
}

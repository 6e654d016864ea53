import type { Server } from "node:http";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { getOperationAST, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { WebSocketServer } from "ws";
import type { Viewer } from "../auth/roles.ts";
import type { Context } from "../graphql/context.ts";
import type { Metrics } from "./metrics.ts";

// setTimeout's ceiling (~24.8 days); longer lifetimes are re-armed when it fires.
const MAX_TIMER_MS = 2_147_483_647;

export interface WebSocketDeps {
  schema: GraphQLSchema;
  /** Verifies a bearer token; throws when it is invalid, expired or revoked. */
  authenticate: (token: string) => Promise<Viewer>;
  context: (viewer: Viewer | null) => Context;
  formatError: (error: GraphQLFormattedError, original: unknown) => GraphQLFormattedError;
  metrics: Metrics;
}

type Extra = {
  viewer?: Viewer | null;
  expiry?: NodeJS.Timeout;
};

/**
 * graphql-ws on the HTTP server's port at /graphql. The viewer is established at connection_init
 * (a bad token closes the socket with 4403) and the socket is closed with 4403 when its token expires.
 */
export function attachWebSocket(server: Server, deps: WebSocketDeps) {
  const wss = new WebSocketServer({ server, path: "/graphql" });
  const cleanup = useServer<Record<string, unknown> | undefined, Extra>(
    {
      schema: deps.schema,
      context: (ctx) => deps.context(ctx.extra.viewer ?? null),
      onConnect: async (ctx) => {
        const header = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        if (header === undefined || header === null || header === "") {
          ctx.extra.viewer = null;
          return true;
        }
        const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
        if (!match) return false;
        try {
          const viewer = await deps.authenticate(match[1]!);
          ctx.extra.viewer = viewer;
          const arm = () => {
            const remaining = viewer.tokenExpiresAt.getTime() - Date.now();
            ctx.extra.expiry = setTimeout(
              () => (remaining > MAX_TIMER_MS ? arm() : ctx.extra.socket.close(CloseCode.Forbidden, "Forbidden: access token expired")),
              Math.max(0, Math.min(remaining, MAX_TIMER_MS)),
            );
            ctx.extra.expiry.unref();
          };
          arm();
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onOperation: (_ctx, _id, _payload, args, result) => {
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
      },
    },
    wss,
  );
  wss.on("connection", (socket) => {
    deps.metrics.wsConnections.inc();
    socket.once("close", () => deps.metrics.wsConnections.dec());
  });
  return { wss, cleanup };
}

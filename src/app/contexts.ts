import type { IncomingMessage } from "node:http";
import { GraphQLError } from "graphql";
import type { Config } from "../config.ts";
import { sharedViewer, type RoleName, type Viewer } from "../auth/roles.ts";
import type { Database } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { createContext, type ConnectionControl, type Context, type ContextDeps } from "../graphql/context.ts";
import { internalError, unauthenticated } from "../graphql/errors.ts";
import { createLoaders, loaderScope, type Services } from "../modules/index.ts";
import { clientAddress } from "../server/client-address.ts";
import { noteContext, requestIdOf } from "../server/request-log.ts";
import type { ErrorReporting } from "./errors.ts";

/** One way per transport to build an operation's context, all over the same services and loaders. */
export interface Contexts {
  /** A fan-out group's context: anonymous, or a role's (and a user's, for per-user data). */
  shared(role: RoleName | null, userId: string | undefined): Context;
  /** A WebSocket subscription's context, for the viewer its connection authenticated. */
  socket(viewer: Viewer | null, connection: ConnectionControl, request: IncomingMessage): Context;
  /**
   * An HTTP (and GraphQL over SSE) request's context, from its Authorization header. Rejects with
   * UNAUTHENTICATED for a bad header or token; any other failure is logged with the request id and
   * answered as a masked INTERNAL_SERVER_ERROR carrying that id.
   */
  http(req: IncomingMessage): Promise<Context>;
}

export function contexts(config: Config, { db, bus, services }: { db: Database; bus: EventBus; services: Services }, errors: ErrorReporting): Contexts {
  // The domain's loader factory and scope, handed to the platform's context builder.
  const deps: ContextDeps = { services, events: bus, createLoaders: (viewer) => createLoaders(db.prisma, viewer), loaderScope };
  const fromRequest = async (req: IncomingMessage): Promise<Context> => {
    const header = req.headers.authorization;
    let viewer = null;
    if (header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw unauthenticated("Authorization must be \"Bearer <accessToken>\"");
      viewer = await services.identity.viewerFromToken(match[1]!);
    }
    return createContext(deps, {
      viewer,
      userAgent: req.headers["user-agent"],
      clientAddress: clientAddress(req, config.trustProxyHops),
      requestId: requestIdOf(req),
    });
  };
  return {
    shared: (role, userId) => createContext(deps, { viewer: role ? sharedViewer(role, userId) : null }),
    socket: (viewer, connection, request) => createContext(deps, { viewer, connection, clientAddress: clientAddress(request, config.trustProxyHops) }),
    // A dependency failing while the context is built (the session check's database) is logged
    // here with the request id, which its masked answer carries.
    http: (req) =>
      noteContext(
        req,
        fromRequest(req).catch((error: unknown) => {
          if (error instanceof GraphQLError) throw error;
          const requestId = requestIdOf(req);
          errors.reportUnexpected(error, requestId);
          throw internalError(error, requestId);
        }),
      ),
  };
}

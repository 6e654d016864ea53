import { randomUUID } from "node:crypto";
import type { Viewer } from "../auth/roles.ts";
import type { Prisma } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { createLoaders, type Loaders, type Services } from "../modules/index.ts";

/** What every resolver receives: one per HTTP operation, one per WebSocket subscription. */
export interface Context {
  requestId: string;
  viewer: Viewer | null;
  userAgent: string | undefined;
  /** The caller's network address (for log-in limits); undefined when unknown. */
  clientAddress: string | undefined;
  /** Set when the request came with a partner key (it runs the partner's manifest, on the partner's budget). */
  partnerId?: string | undefined;
  /** Set for operations sent over a WebSocket: control of that connection. */
  connection: ConnectionControl | undefined;
  services: Services;
  events: EventBus;
  loaders: Loaders;
  /** Replaces the loaders: called before each subscription event so no event reads a stale row. */
  renewLoaders(): void;
}

/** What an operation may do to the WebSocket connection it arrived on. */
export interface ConnectionControl {
  /** Replaces the connection's viewer (and its expiry timer) with that of a fresh token of the same user. */
  renew(viewer: Viewer): void;
}

export interface ContextDeps {
  prisma: Prisma;
  services: Services;
  events: EventBus;
}

export function createContext(
  deps: ContextDeps,
  request: {
    viewer: Viewer | null;
    userAgent?: string | undefined;
    requestId?: string | undefined;
    clientAddress?: string | undefined;
    connection?: ConnectionControl | undefined;
  },
): Context {
  const context: Context = {
    requestId: request.requestId ?? randomUUID(),
    viewer: request.viewer,
    userAgent: request.userAgent,
    clientAddress: request.clientAddress,
    connection: request.connection,
    services: deps.services,
    events: deps.events,
    loaders: createLoaders(deps.prisma, request.viewer),
    renewLoaders() {
      context.loaders = createLoaders(deps.prisma, context.viewer);
    },
  };
  return context;
}

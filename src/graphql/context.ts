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
  services: Services;
  events: EventBus;
  loaders: Loaders;
  /** Replaces the loaders: called before each subscription event so no event reads a stale row. */
  renewLoaders(): void;
}

export interface ContextDeps {
  prisma: Prisma;
  services: Services;
  events: EventBus;
}

export function createContext(
  deps: ContextDeps,
  request: { viewer: Viewer | null; userAgent?: string | undefined; requestId?: string | undefined },
): Context {
  const context: Context = {
    requestId: request.requestId ?? randomUUID(),
    viewer: request.viewer,
    userAgent: request.userAgent,
    services: deps.services,
    events: deps.events,
    loaders: createLoaders(deps.prisma, request.viewer),
    renewLoaders() {
      context.loaders = createLoaders(deps.prisma, context.viewer);
    },
  };
  return context;
}

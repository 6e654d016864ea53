import { randomUUID } from "node:crypto";
import type { Viewer } from "../auth/roles.ts";
import type { EventBus } from "../events/bus.ts";

/**
 * What the domain puts on every context, declared empty here and filled in by the registration
 * list (modules/index.ts augments both interfaces with its services and loaders). So this layer
 * names no module and every resolver still sees `ctx.services` and `ctx.loaders` fully typed.
 */
export interface ContextServices {}
export interface ContextLoaders {}

/** What every resolver receives: one per HTTP operation, one per WebSocket subscription. */
export interface Context {
  /** Matches the operation's log line, its x-request-id header and a masked error's extensions.requestId. */
  requestId: string;
  /** What the transport logs about the operation once it ends (filled by server/). */
  report: OperationReport;
  viewer: Viewer | null;
  userAgent: string | undefined;
  /** The caller's network address (for log-in limits); undefined when unknown. */
  clientAddress: string | undefined;
  /** Set when the request came with a partner key (it runs the partner's manifest, on the partner's budget). */
  partnerId?: string | undefined;
  /**
   * The cursor a subscription resumes after, taking precedence over its `after` argument: the
   * Last-Event-ID of a GraphQL over SSE request (see resumeCursor in graphql/resume.ts).
   */
  resumeAfter?: string | undefined;
  /** Set for operations sent over a WebSocket: control of that connection. */
  connection: ConnectionControl | undefined;
  services: ContextServices;
  events: EventBus;
  loaders: ContextLoaders;
  /**
   * The loaders for one subscription event, shared by every subscriber of that event on this
   * instance whose loaders see the same rows (loaderScope): N subscribers of one stock change
   * read the product once, not N times. Fresh for every event, so no event reads a stale row.
   */
  eventLoaders(event: unknown): ContextLoaders;
}

/** The operation as its log line and /metrics describe it. */
export interface OperationReport {
  /** The operation's name, when it has one. */
  name?: string | undefined;
  /** query, mutation or subscription, once the operation is known. */
  type?: string | undefined;
  /** Codes of the errors answered (at most 20). */
  errorCodes?: string[] | undefined;
}

/** What an operation may do to the WebSocket connection it arrived on. */
export interface ConnectionControl {
  /** Replaces the connection's viewer (and its expiry timer) with that of a fresh token of the same user. */
  renew(viewer: Viewer): void;
}

/** What the composition root hands the context builder (built once per process). */
export interface ContextDeps {
  services: ContextServices;
  events: EventBus;
  /** Fresh loaders for one viewer (modules/index.ts createLoaders over the process's Prisma client). */
  createLoaders(viewer: Viewer | null): ContextLoaders;
  /**
   * Which rows a viewer's loaders read: viewers of one scope may share loaders (one subscription
   * event read once for all of them).
   */
  loaderScope(viewer: Viewer | null): string;
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
  // Made on first use: a subscription's own context may never read (its events bring shared
  // loaders, and a grouped anonymous subscription runs on its group's context), and an idle
  // subscriber should cost little memory.
  let loaders: ContextLoaders | undefined;
  const context: Context = {
    requestId: request.requestId ?? randomUUID(),
    report: {},
    viewer: request.viewer,
    userAgent: request.userAgent,
    clientAddress: request.clientAddress,
    connection: request.connection,
    services: deps.services,
    events: deps.events,
    get loaders() {
      return (loaders ??= deps.createLoaders(context.viewer));
    },
    set loaders(value: ContextLoaders) {
      loaders = value;
    },
    eventLoaders(event) {
      return loadersForEvent(deps, event, context.viewer);
    },
  };
  return context;
}

// Pub/sub hands the same event object to every subscriber of a channel on this instance (Redis:
// one parse per message; in-process: one emit), so the object identifies the event. Entries go
// with the event once every subscriber is done with it. Every subscriber of the event (in one
// scope) sees the rows as the first read after the event found them, a few milliseconds apart at most.
const sharedByEvent = new WeakMap<object, Map<string, ContextLoaders>>();

function loadersForEvent(deps: ContextDeps, event: unknown, viewer: Viewer | null): ContextLoaders {
  if (typeof event !== "object" || event === null) return deps.createLoaders(viewer);
  let byScope = sharedByEvent.get(event);
  if (!byScope) sharedByEvent.set(event, (byScope = new Map()));
  const scope = deps.loaderScope(viewer);
  let loaders = byScope.get(scope);
  if (!loaders) byScope.set(scope, (loaders = deps.createLoaders(viewer)));
  return loaders;
}

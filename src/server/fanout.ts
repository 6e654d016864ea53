import {
  Kind,
  createSourceEventStream,
  execute,
  getOperationAST,
  subscribe,
  type ExecutionArgs,
  type GraphQLSchema,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
} from "graphql";
import type { WebSocket } from "ws";
import { hasRole, type RoleName, type Viewer } from "../auth/roles.ts";
import { selectsOwnerDependentFields } from "../graphql/auth-directive.ts";
import type { Metrics } from "./metrics.ts";

/** Close code for a socket that stayed behind (client: reconnect, refetch, resubscribe). */
export const CLOSE_TOO_SLOW = 4008;
const FLUSH_INTERVAL_MS = 25;
/** Events kept for one behind subscription (latest values coalesced) before its socket is closed. */
const MAX_BACKLOG_EVENTS = 1_000;

export interface FanoutOptions {
  schema: GraphQLSchema;
  /**
   * A fresh context for a group's executions: anonymous (role null), a viewer of `role` who is no
   * one in particular, or with `userId` that user (for the user's own data).
   */
  sharedContext: (role: RoleName | null, userId: string | undefined) => unknown;
  /**
   * Root subscription fields whose events are the same whoever subscribes (public topics, or
   * one for all staff): signed-in subscribers of these are grouped by role when the document
   * selects nothing an owner sees differently. Others (a user's cart, orders) run per subscriber.
   */
  sharedRootFields: ReadonlySet<string>;
  formatError: (error: GraphQLFormattedError, original: unknown) => GraphQLFormattedError;
  metrics: Metrics;
  /** Unsent bytes a socket may hold before its events are held back and coalesced (WS_MAX_BUFFERED_BYTES). */
  maxBufferedBytes: number;
  /** How long a socket may stay over that before it is closed with CLOSE_TOO_SLOW (WS_BACKLOG_TIMEOUT). */
  backlogTimeoutMs: number;
  /** The resume cursor of an event (sent as `extensions.cursor` with its result); undefined when it has none. */
  cursorOf?: (event: unknown) => string | undefined;
  /**
   * Resumed subscriptions (a root field's `after` given as a variable) share their live group: the
   * member joins the group without its cursor, its missed events are replayed on its own context
   * meanwhile, and the group's events are held until the replay is done. Absent: a resumed
   * subscription runs in a group of its own.
   */
  resume?: {
    /** Every event before this position has reached the live groups; later ones will. */
    position(): number;
    /** The event's position. */
    positionOf(event: unknown): number | undefined;
    /** The position a cursor stands for; undefined when it is not a cursor. */
    positionOfCursor(cursor: string): number | undefined;
    /** The member's context, with subscriptions that only replay up to `until` (then end). */
    replayContext(context: unknown, until: number): unknown;
  };
}

/** Where one subscription's frames go: its graphql-ws id on its socket, and who is on that socket now. */
export interface Target {
  id: string;
  socket: WebSocket;
  /** The connection's viewer as it is now (a role change applies from the next event). */
  viewer: () => Viewer | null;
}

interface Member {
  target: Target;
  /** The member's own execution arguments (its context), for when it leaves its group. */
  args: ExecutionArgs;
  /** The role it was grouped under (null: anonymous); undefined once it runs on its own context. */
  role: RoleName | null | undefined;
  group: Group;
  /** A resumed member: the group's events at or before this position reached it already (replay, or the cursor itself). */
  after?: number | undefined;
  /** Set once graphql-ws is done with it (completed, or its socket closed). */
  left: boolean;
  /** While it moves to a group of its own, or replays: the group's events, sent once that is done. */
  held?: { payload: string; coalesce: string | undefined; position: number | undefined }[] | undefined;
  end(error?: unknown): void;
}

interface Group {
  /** Its entry in Fanout.groups. */
  key: string;
  members: Set<Member>;
  stop(): void;
}

/** Whom a group's executions answer for: anonymous, a role, or one user with a role. */
interface Scope {
  key: string;
  role: RoleName | null;
  userId: string | undefined;
}

/** Socket-level state: its held-back frames while it is behind, by coalescing key. */
interface SocketState {
  /** Frames computed for the viewer's role at the time (null: anonymous), by coalescing slot. */
  backlog: Map<string, { frame: string; role: RoleName | null; target: Target }>;
  behindSince: number;
}

/**
 * Subscription fan-out. Identical subscriptions (same document, operation and variables) of the
 * same authorization scope (anonymous, or a role where nothing selected depends on the owner)
 * form one group: each event is executed once for the group, with one set of loaders, serialized
 * once, and the same bytes go to every member's socket (only the subscription id differs). Every
 * socket's unsent data is bounded: over `maxBufferedBytes` its events are held back, the latest
 * value of a product or cart replacing older ones, and a socket still behind after
 * `backlogTimeoutMs` is closed with CLOSE_TOO_SLOW.
 */
export class Fanout {
  private readonly groups = new Map<string, Group>();
  private readonly sockets = new Map<WebSocket, SocketState>();
  private flushTimer: NodeJS.Timeout | undefined;
  private sequence = 0;

  constructor(private readonly options: FanoutOptions) {}

  /**
   * graphql-ws's `subscribe`: returns an iterable that graphql-ws waits on while the group writes
   * the subscription's frames. A member whose role changes leaves for a subscription of its own
   * (its own context) from the next event on.
   */
  async subscribe(args: ExecutionArgs, target: Target | undefined): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    if (!target) return subscribe(args);
    const resumed = this.options.resume && resumeVariable(args);
    if (resumed) return this.subscribeResumed(args, target, resumed);
    const scope = this.scopeOf(args, target);
    const group = await this.groupFor(args, scope);
    if (!("members" in group)) return group;
    return this.join(group, { target, args, role: scope.role }).iterator;
  }

  /** The group of `args` in `scope`, started if there is none; or the error that refused it. */
  private async groupFor(args: ExecutionArgs, scope: Scope): Promise<Group | ExecutionResult> {
    const key = `${groupKey(args)}\u0000${scope.key}`;
    return this.groups.get(key) ?? (await this.startGroup(key, args, this.options.sharedContext(scope.role, scope.userId)));
  }

  /**
   * A subscription with a cursor: joins the group of the same subscription without one (its live
   * events held back), replays what it missed on its own context, then gets the held events that
   * came after the replay. No gap: the replay covers everything before the position taken after
   * joining, the group everything from it on; no duplicate: held events before it are dropped.
   */
  private async subscribeResumed(args: ExecutionArgs, target: Target, variable: string): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const resume = this.options.resume!;
    const liveArgs = { ...args, variableValues: { ...args.variableValues, [variable]: null } };
    const scope = this.scopeOf(liveArgs, target);
    const group = await this.groupFor(liveArgs, scope);
    if (!("members" in group)) return group;
    const { iterator, member } = this.join(group, { target, args, role: scope.role }, []);
    const until = resume.position();
    // An instance a little behind the one the cursor came from: what it holds up to the cursor was sent already.
    member.after = Math.max(until - 1, resume.positionOfCursor(args.variableValues![variable] as string) ?? 0);
    const source = await createSourceEventStream({ ...args, contextValue: resume.replayContext(args.contextValue, until) }).catch((error: unknown) => ({ errors: [error] }) as ExecutionResult);
    if (!(Symbol.asyncIterator in source)) {
      // Refused (CURSOR_EXPIRED, a bad cursor, FORBIDDEN): the member was never announced to the client.
      member.left = true;
      this.remove(member);
      return source as ExecutionResult;
    }
    void (async () => {
      try {
        for await (const event of source as AsyncIterable<unknown>) {
          if (member.left) break;
          this.deliver(target, JSON.stringify(this.formatted(await this.execute(args, event))), coalescingKey(event));
        }
      } catch (error) {
        this.remove(member);
        member.end(error);
        return;
      }
      const held = member.held ?? [];
      member.held = undefined;
      if (member.left) return;
      for (const h of held) if (h.position === undefined || h.position > member.after!) this.deliver(target, h.payload, h.coalesce);
    })();
    return iterator;
  }

  /**
   * The authorization scope a subscription is grouped under: anonymous, or the viewer's role for
   * a shared root field whose document selects nothing owner-dependent; undefined: on its own.
   */
  private scopeOf(args: ExecutionArgs, target: Target): Scope {
    const viewer = target.viewer();
    if (!viewer) return { key: "anonymous", role: null, userId: undefined };
    const root = getOperationAST(args.document, args.operationName)?.selectionSet.selections[0];
    const field = root?.kind === Kind.FIELD ? root.name.value : undefined;
    if (field && this.options.sharedRootFields.has(field) && !selectsOwnerDependentFields(this.options.schema, args.document)) {
      return { key: `role:${viewer.role}`, role: viewer.role, userId: undefined };
    }
    // The subscriber's own data (or owner-dependent fields): shared only with the same user, same role.
    return { key: `user:${viewer.userId}:${viewer.role}`, role: viewer.role, userId: viewer.userId };
  }

  private soloKey(): string {
    return `solo\u0000${(this.sequence += 1)}`;
  }

  private async startGroup(key: string, args: ExecutionArgs, contextValue: unknown): Promise<Group | ExecutionResult> {
    const source = await createSourceEventStream({ ...args, contextValue });
    if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
    const events = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    // A second subscribe may have started the same group meanwhile: join that one.
    const existing = this.groups.get(key);
    if (existing) {
      void Promise.resolve(events.return?.()).catch(() => {});
      return existing;
    }
    let stopped = false;
    const group: Group = {
      key,
      members: new Set(),
      stop: () => {
        stopped = true;
        this.groups.delete(key);
        void Promise.resolve(events.return?.()).catch(() => {});
      },
    };
    this.groups.set(key, group);
    void (async () => {
      try {
        for (;;) {
          const next = await events.next();
          if (next.done || stopped) break;
          const result = await this.execute({ ...args, contextValue }, next.value);
          const payload = JSON.stringify(this.formatted(result));
          const coalesce = coalescingKey(next.value);
          const position = this.options.resume?.positionOf(next.value);
          for (const member of group.members) {
            const role = member.target.viewer()?.role ?? null;
            if (member.after !== undefined && position !== undefined && position <= member.after) continue;
            if (member.held) {
              // Joined this group while its last event elsewhere is still being answered: keep order.
              member.held.push({ payload, coalesce, position });
            } else if (member.role === undefined || role === member.role) {
              this.deliver(member.target, payload, coalesce);
            } else {
              // Its role changed: on its own from now on (and this event as itself, if promoted).
              await this.leaveForOwnGroup(member, next.value, coalesce).catch((error: unknown) => {
                this.remove(member);
                member.end(error);
              });
            }
          }
        }
        for (const member of group.members) member.end();
      } catch (error) {
        for (const member of group.members) member.end(error);
      } finally {
        if (!stopped) group.stop();
      }
    })();
    return group;
  }

  private join(group: Group, joining: Pick<Member, "target" | "args" | "role">, held?: Member["held"]): { iterator: AsyncIterableIterator<ExecutionResult>; member: Member } {
    let finish!: (result: IteratorResult<ExecutionResult>) => void;
    let fail!: (error: unknown) => void;
    const ended = new Promise<IteratorResult<ExecutionResult>>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // Rejected only for graphql-ws's pending next(); marked handled so that a failure before
    // graphql-ws waits on it is not an unhandled rejection.
    ended.catch(() => {});
    const member: Member = {
      ...joining,
      group,
      left: false,
      held,
      end: (error) => (error === undefined ? finish({ done: true, value: undefined }) : fail(error)),
    };
    group.members.add(member);
    const leave = () => {
      member.left = true;
      this.remove(member);
      finish({ done: true, value: undefined });
    };
    const iterator: AsyncIterableIterator<ExecutionResult> = {
      // graphql-ws waits here while the group writes this subscription's frames itself.
      next: () => ended,
      return: async () => {
        leave();
        return { done: true, value: undefined };
      },
      throw: async (error) => {
        leave();
        throw error;
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return { iterator, member };
  }

  private remove(member: Member): void {
    const { group } = member;
    group.members.delete(member);
    if (group.members.size === 0 && this.groups.get(group.key) === group) group.stop();
  }

  /**
   * Moves `member`, whose role changed, out of its shared group into one of its own, whose
   * per-event checks are its own from the next event on. This event: a promoted member gets it
   * as itself; a demoted one does not (its group's filters ran for the higher role).
   */
  private async leaveForOwnGroup(member: Member, event: unknown, coalesce: string | undefined): Promise<void> {
    const before = member.role;
    const now = member.target.viewer()?.role;
    const own = await this.startGroup(this.soloKey(), member.args, member.args.contextValue);
    // Its new role may not subscribe at all (a demoted staff member's orderPlaced): it stays in its
    // group and is skipped while its role differs, as a subscription whose events its role may not see.
    if (!("members" in own)) return;
    if (member.left) {
      own.stop();
      return;
    }
    this.remove(member);
    member.role = undefined;
    // In its own group from now (no event missed); what that group answers meanwhile waits until
    // this event has gone out, so nothing arrives out of order.
    member.held = [];
    member.group = own;
    own.members.add(member);
    try {
      if (before && now && hasRole(now, before)) {
        const result = await this.execute(member.args, event);
        if (!member.left) this.deliver(member.target, JSON.stringify(this.formatted(result)), coalesce);
      }
    } finally {
      const held = member.held;
      member.held = undefined;
      if (!member.left) for (const h of held) this.deliver(member.target, h.payload, h.coalesce);
    }
  }

  /** One execution of a subscription for an event, with the event's cursor in `extensions.cursor`. */
  private async execute(args: ExecutionArgs, event: unknown): Promise<ExecutionResult> {
    const result = await execute({ ...args, rootValue: event });
    this.options.metrics.fanoutExecutions.inc();
    const cursor = this.options.cursorOf?.(event);
    return cursor === undefined ? result : { ...result, extensions: { ...result.extensions, cursor } };
  }

  private formatted(result: ExecutionResult): unknown {
    if (!result.errors?.length) return result;
    return { ...result, errors: result.errors.map((e: GraphQLError) => this.options.formatError(e.toJSON(), e)) };
  }

  /** Writes one `next` frame, or holds it back (coalesced by `coalesce`) while the socket is behind. */
  private deliver(target: Target, payload: string, coalesce: string | undefined): void {
    const { socket } = target;
    if (socket.readyState !== socket.OPEN) return;
    const frame = `{"id":${JSON.stringify(target.id)},"type":"next","payload":${payload}}`;
    let state = this.sockets.get(socket);
    if (!state && socket.bufferedAmount <= this.options.maxBufferedBytes) {
      socket.send(frame);
      return;
    }
    if (!state) {
      state = { backlog: new Map(), behindSince: Date.now() };
      this.sockets.set(socket, state);
      this.options.metrics.socketsBehind.inc();
      this.flushTimer ??= setInterval(() => this.flush(), FLUSH_INTERVAL_MS).unref();
    }
    const slot = coalesce === undefined ? `#${(this.sequence += 1)}` : `${target.id}:${coalesce}`;
    if (state.backlog.delete(slot)) this.options.metrics.eventsCoalesced.inc();
    state.backlog.set(slot, { frame, role: target.viewer()?.role ?? null, target });
    if (state.backlog.size > MAX_BACKLOG_EVENTS) this.tooSlow(socket);
  }

  private flush(): void {
    const now = Date.now();
    for (const [socket, state] of this.sockets) {
      if (socket.readyState !== socket.OPEN) {
        this.caughtUp(socket);
      } else if (socket.bufferedAmount <= this.options.maxBufferedBytes) {
        // Oldest first, and only while under the cap: unsent data never grows past it by more than a frame.
        for (const [slot, held] of state.backlog) {
          if (socket.bufferedAmount > this.options.maxBufferedBytes) break;
          // Computed for a role the viewer no longer has: never sent; the client resyncs instead.
          if ((held.target.viewer()?.role ?? null) !== held.role) {
            this.tooSlow(socket, "Role changed while events were held back; reconnect and refetch");
            break;
          }
          socket.send(held.frame);
          state.backlog.delete(slot);
        }
        if (state.backlog.size === 0) this.caughtUp(socket);
      } else if (now - state.behindSince > this.options.backlogTimeoutMs) {
        this.tooSlow(socket);
      }
    }
  }

  private caughtUp(socket: WebSocket): void {
    if (!this.sockets.delete(socket)) return;
    this.options.metrics.socketsBehind.dec();
    if (this.sockets.size === 0 && this.flushTimer) {
      clearInterval(this.flushTimer);
      this.flushTimer = undefined;
    }
  }

  private tooSlow(socket: WebSocket, reason = "Too slow: events could not be delivered in time; reconnect and refetch"): void {
    this.caughtUp(socket);
    this.options.metrics.socketsClosedForBacklog.inc();
    socket.close(CLOSE_TOO_SLOW, reason);
  }

  /** Stops every group (shutdown). */
  close(): void {
    for (const group of [...this.groups.values()]) group.stop();
    for (const socket of [...this.sockets.keys()]) this.caughtUp(socket);
  }
}

/** The variable that gives the root field's `after` (a resume cursor), when it is set; else undefined. */
function resumeVariable(args: ExecutionArgs): string | undefined {
  const root = getOperationAST(args.document, args.operationName)?.selectionSet.selections[0];
  if (root?.kind !== Kind.FIELD) return undefined;
  const after = root.arguments?.find((a) => a.name.value === "after");
  if (after?.value.kind !== Kind.VARIABLE) return undefined;
  const name = after.value.name.value;
  return typeof args.variableValues?.[name] === "string" ? name : undefined;
}

/** Identical subscriptions: the same document object (the WebSocket caches them by text), operation and variables. */
const documentIds = new WeakMap<object, number>();
let nextDocumentId = 0;
function groupKey(args: ExecutionArgs): string {
  let id = documentIds.get(args.document);
  if (id === undefined) documentIds.set(args.document, (id = (nextDocumentId += 1)));
  return `${id}\u0000${args.operationName ?? ""}\u0000${stableJson(args.variableValues ?? {})}`;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Events that carry a latest value (a product's stock or fields, a cart snapshot): a newer one
 * makes an older one that is still held back worthless. Others (orders, notifications) are never coalesced.
 */
function coalescingKey(event: unknown): string | undefined {
  if (!event || typeof event !== "object") return undefined;
  const e = event as { productId?: unknown; version?: unknown; items?: unknown };
  if (typeof e.productId === "string") return `product:${e.productId}`;
  if (typeof e.version === "number" && Array.isArray(e.items)) return "cart";
  return undefined;
}

import {
  Kind,
  createSourceEventStream,
  execute,
  getOperationAST,
  subscribe,
  type ExecutionArgs,
  type GraphQLSchema,
  type ExecutionResult,
  GraphQLError,
  type GraphQLFormattedError,
} from "graphql";
import type { WebSocket } from "ws";
import { hasRole, type RoleName, type Viewer } from "../auth/roles.ts";
import { selectsOwnerDependentFields } from "../graphql/auth-directive.ts";
import { coalescingKey, groupKey, resumeOf, type Resume } from "./fanout-keys.ts";
import type { Metrics } from "./metrics.ts";
import { StreamQueue, isStreamTarget, type StreamTarget } from "./stream-queue.ts";

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
  /**
   * Told of the errors a WebSocket subscriber is sent with an event (`context` is the
   * subscription's own), for its log line and /metrics; GraphQL over SSE notes its own. Must not throw.
   */
  onErrors?: (context: unknown, errors: readonly GraphQLFormattedError[]) => void;
  metrics: Metrics;
  /**
   * Unsent bytes a socket may hold before its events are held back and coalesced, and an SSE
   * stream before its events wait in its StreamQueue (WS_MAX_BUFFERED_BYTES).
   */
  maxBufferedBytes: number;
  /** How long a socket may stay over that before it is closed with CLOSE_TOO_SLOW, or a stream's event wait before it is ended (WS_BACKLOG_TIMEOUT). */
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

/** One event's result for a group, formatted once; its graphql-ws payload serialized once, when a socket needs it. */
interface Outgoing {
  result: ExecutionResult;
  payload(): string;
  coalesce: string | undefined;
  /** The event's position (FanoutOptions.resume), for a replaying member's held events. */
  position: number | undefined;
}

interface Member {
  target: Target | StreamTarget;
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
  held?: Outgoing[] | undefined;
  /** A stream target's bounded queue of results (a socket's frames are written by the fan-out itself). */
  queue?: StreamQueue | undefined;
  end(error?: unknown): void;
}

interface Group {
  /** Its entry in Fanout.groups. */
  key: string;
  /** The subscription's root field (for /metrics). */
  field: string;
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
 * `backlogTimeoutMs` is closed with CLOSE_TOO_SLOW. A stream target (GraphQL over SSE) is a
 * member of the same groups: it is handed the group's result objects through a bounded
 * StreamQueue (server/stream-queue.ts) and serializes them itself.
 *
 * A subscription that resumes (an `after` variable, or the transport's cursor: SSE Last-Event-ID)
 * joins the live group of the same subscription without its cursor and replays on its own
 * meanwhile (FanoutOptions.resume); one whose cursor is written into its document runs on its own.
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
  async subscribe(args: ExecutionArgs, target: Target | StreamTarget | undefined): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    if (!target) return subscribe(args);
    const resumed = resumeOf(args);
    if (resumed?.kind === "inline" || (resumed && !this.options.resume)) {
      // A cursor written into the document: no live group has the same document to join.
      const own = await this.startGroup(this.soloKey(), args, args.contextValue);
      return "members" in own ? this.join(own, { target, args, role: undefined }).iterator : own;
    }
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
  private async subscribeResumed(args: ExecutionArgs, target: Target | StreamTarget, resumed: Exclude<Resume, { kind: "inline" }>): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const resume = this.options.resume!;
    // The group's shared context has no transport cursor (Last-Event-ID): only the variable goes.
    const liveArgs = resumed.variable === undefined ? args : { ...args, variableValues: { ...args.variableValues, [resumed.variable]: null } };
    const scope = this.scopeOf(liveArgs, target);
    const group = await this.groupFor(liveArgs, scope);
    if (!("members" in group)) return group;
    const { iterator, member } = this.join(group, { target, args, role: scope.role }, []);
    const until = resume.position();
    // An instance a little behind the one the cursor came from: what it holds up to the cursor was sent already.
    member.after = Math.max(until - 1, resume.positionOfCursor(resumed.cursor) ?? 0);
    // The replay's own context: its subscribe renews the loaders there, so its executions use it too.
    const replayArgs = { ...args, contextValue: resume.replayContext(args.contextValue, until) };
    const source = await createSourceEventStream(replayArgs).catch((error: unknown) => ({ errors: [error] }) as ExecutionResult);
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
          this.send(member, this.outgoing(await this.execute(replayArgs, event), coalescingKey(event), undefined));
        }
      } catch (error) {
        this.remove(member);
        member.end(error);
        return;
      }
      const held = member.held ?? [];
      member.held = undefined;
      if (member.left) return;
      // The held events were answered for the role it joined with: a member whose role changed
      // meanwhile gets none of them and is told to subscribe again (its new role decides then).
      if (member.role !== undefined && (target.viewer()?.role ?? null) !== member.role) {
        this.remove(member);
        member.end(new GraphQLError("Your role changed while the subscription resumed: subscribe again", { extensions: { code: "FORBIDDEN" } }));
        return;
      }
      for (const h of held) if (h.position === undefined || h.position > member.after!) this.send(member, h);
    })();
    return iterator;
  }

  /**
   * The authorization scope a subscription is grouped under: anonymous, or the viewer's role for
   * a shared root field whose document selects nothing owner-dependent; undefined: on its own.
   */
  private scopeOf(args: ExecutionArgs, target: Target | StreamTarget): Scope {
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

  /** Live subscriptions on this instance (members of every group, either transport) by root field, for /metrics. */
  subscriptionsByField(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const group of this.groups.values()) counts.set(group.field, (counts.get(group.field) ?? 0) + group.members.size);
    return counts;
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
      field: rootFieldOf(args),
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
          const coalesce = coalescingKey(next.value);
          const out = this.outgoing(result, coalesce, this.options.resume?.positionOf(next.value));
          for (const member of group.members) {
            const role = member.target.viewer()?.role ?? null;
            if (member.after !== undefined && out.position !== undefined && out.position <= member.after) continue;
            if (member.held) {
              // Joined this group while its last event elsewhere is still being answered: keep order.
              member.held.push(out);
            } else if (member.role === undefined || role === member.role) {
              this.send(member, out);
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
    if (isStreamTarget(joining.target)) return this.joinStream(group, joining, joining.target, held);
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

  /** A stream member: the transport pulls the group's results from its bounded queue. */
  private joinStream(group: Group, joining: Pick<Member, "target" | "args" | "role">, target: StreamTarget, held: Member["held"]): { iterator: StreamQueue; member: Member } {
    const member: Member = { ...joining, group, left: false, held, end: (error) => queue.end(error) };
    const queue = new StreamQueue(target, { maxBufferedBytes: this.options.maxBufferedBytes, backlogTimeoutMs: this.options.backlogTimeoutMs, maxEvents: MAX_BACKLOG_EVENTS }, () => {
      member.left = true;
      this.remove(member);
    });
    member.queue = queue;
    group.members.add(member);
    return { iterator: queue, member };
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
        if (!member.left) this.send(member, this.outgoing(result, coalesce, undefined));
      }
    } finally {
      const held = member.held;
      member.held = undefined;
      if (!member.left) for (const h of held) this.send(member, h);
    }
  }

  /** One execution of a subscription for an event, with the event's cursor in `extensions.cursor`. */
  private async execute(args: ExecutionArgs, event: unknown): Promise<ExecutionResult> {
    const result = await execute({ ...args, rootValue: event });
    this.options.metrics.fanoutExecutions.inc();
    const cursor = this.options.cursorOf?.(event);
    return cursor === undefined ? result : { ...result, extensions: { ...result.extensions, cursor } };
  }

  private formatted(result: ExecutionResult): ExecutionResult {
    if (!result.errors?.length) return result;
    // Formatted errors in place of GraphQLErrors: what every transport sends.
    return { ...result, errors: result.errors.map((e: GraphQLError) => this.options.formatError(e.toJSON(), e)) } as unknown as ExecutionResult;
  }

  private outgoing(result: ExecutionResult, coalesce: string | undefined, position: number | undefined): Outgoing {
    const formatted = this.formatted(result);
    let payload: string | undefined;
    return { result: formatted, payload: () => (payload ??= JSON.stringify(formatted)), coalesce, position };
  }

  private send(member: Member, out: Outgoing): void {
    if (member.queue) return member.queue.push(out.result);
    if (out.result.errors?.length) this.options.onErrors?.(member.args.contextValue, out.result.errors as unknown as GraphQLFormattedError[]);
    this.deliver(member.target as Target, out.payload(), out.coalesce);
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

/** The first root field's name of the operation `args` runs (a subscription has exactly one). */
function rootFieldOf(args: ExecutionArgs): string {
  const selection = getOperationAST(args.document, args.operationName)?.selectionSet.selections[0];
  return selection?.kind === Kind.FIELD ? selection.name.value : "(unknown)";
}

import type { Context } from "./context.ts";

/** The description of every subscription's `after` argument. */
export const AFTER_DESCRIPTION =
  "Resume: the events after this cursor (the `cursor` of an event received before) are replayed first, then live ones follow, with no gap and no duplicate. CURSOR_EXPIRED when it is older than the events kept (OUTBOX_RETENTION): refetch, then subscribe without it.";

/** The description of `cursor` on objects a subscription delivers. */
export const CURSOR_DESCRIPTION =
  "The position of the subscription event that delivered this object: pass it as `after` to resume from here. Null when read by a query or a mutation.";

/**
 * The cursor a subscription resumes after: the transport's (SSE Last-Event-ID), else its `after`
 * argument. The transport's wins: an EventSource reconnects to the same URL (with the `after` it
 * started from) and sends the id of the last event it received, which is later.
 */
export function resumeCursor(args: Record<string, unknown>, ctx: Context): string | null {
  if (ctx.resumeAfter) return ctx.resumeAfter;
  const after = args.after;
  return typeof after === "string" ? after : null;
}

/** `value` as delivered by the event at `position` (its `cursor` field answers with it). */
export function withCursor<T extends object>(value: T | null | undefined, position: number, ctx: Context): (T & { cursor: string }) | null {
  return value ? { ...value, cursor: ctx.events.cursor(position) } : null;
}

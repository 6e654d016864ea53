import { Ctx, Query, Resolver } from "type-graphql";
import type { Context } from "../graphql/context.ts";

/** Where the event stream stands, for a read that a subscription continues without a gap. */
@Resolver()
export class EventCursorResolver {
  @Query(() => String, {
    description:
      "The cursor of the newest event this server has handed out. Read it in the same request as the data a view shows (`{ eventCursor cart { … } }`), then subscribe with it as `after`: every change after the read arrives, none is missed between the read and the subscription (a change the read already shows may come once more; versions tell).",
  })
  eventCursor(@Ctx() ctx: Context): string {
    return ctx.events.cursor(ctx.events.position - 1);
  }
}

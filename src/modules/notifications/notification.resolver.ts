import { Arg, Args, ArgsType, Ctx, Directive, Field, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import type { Viewer } from "../../auth/roles.ts";
import type { Context } from "../../graphql/context.ts";
import type { NodeFetchers } from "../node.ts";
import { PageArgs } from "../../graphql/types.ts";
import { SKIP, transform } from "../../events/iterators.ts";
import type { Delivered } from "../../events/bus.ts";
import { AFTER_DESCRIPTION, resumeCursor, withCursor } from "../../graphql/resume.ts";
import { toGlobalId } from "../../lib/ids.ts";
import {
  Notification,
  NotificationCategory,
  NotificationConnection,
  NotificationPreference,
  type NotificationCategoryValue,
  type NotificationRow,
} from "./notification.type.ts";

/** Whether `viewer` may see this notification: only its recipient does (the same for lists, node(id) and every event). */
export function canSeeNotification(viewer: Viewer | null, notification: { userId: string }): boolean {
  return viewer !== null && notification.userId === viewer.userId;
}

/** `node(id)` for notifications: someone else's is the same null as an unknown id. */
export const notificationNodeFetchers: NodeFetchers = {
  Notification: async (key, ctx) => {
    const row = await ctx.loaders.notifications.notificationById.load(key);
    return row && canSeeNotification(ctx.viewer, row) ? row : null;
  },
};

@ArgsType()
class NotificationsArgs extends PageArgs {
  @Field(() => Boolean, { nullable: true })
  unreadOnly?: boolean | null;
}

@Resolver(() => Notification)
export class NotificationResolver {
  @Query(() => NotificationConnection, { description: "The signed-in user's notifications, newest first." })
  @Directive("@auth")
  notifications(@Args(() => NotificationsArgs) args: NotificationsArgs, @Ctx() ctx: Context) {
    return ctx.services.notifications.list(ctx.viewer!, args);
  }

  @Query(() => [NotificationPreference], { description: "Every category with whether it is on (defaults: all on except PROMOTIONS)." })
  @Directive("@auth")
  notificationPreferences(@Ctx() ctx: Context) {
    return ctx.services.notifications.preferences(ctx.viewer!);
  }

  @Mutation(() => Notification)
  @Directive("@auth")
  markNotificationRead(@Arg("id", () => ID) id: string, @Ctx() ctx: Context) {
    return ctx.services.notifications.markRead(ctx.viewer!, id);
  }

  @Mutation(() => NotificationPreference)
  @Directive("@auth")
  setNotificationPreference(
    @Arg("category", () => NotificationCategory) category: NotificationCategoryValue,
    @Arg("enabled", () => Boolean) enabled: boolean,
    @Ctx() ctx: Context,
  ) {
    return ctx.services.notifications.setPreference(ctx.viewer!, category, enabled);
  }

  @Subscription(() => Notification, {
    description: "New notifications for the signed-in user, only in categories they have enabled.",
    subscribe: async ({ args, context }) => {
      const ctx = context as Context;
      // Re-checked per event: the connection's viewer is the only recipient this socket serves.
      return transform(await ctx.events.resume("NOTIFICATION_RECEIVED", [ctx.viewer!.userId], resumeCursor(args, ctx)), (p) =>
        canSeeNotification(ctx.viewer, p) ? p : SKIP,
      );
    },
  })
  @Directive("@auth")
  async notificationReceived(@Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) _after: string | null, @Root() payload: Delivered<"NOTIFICATION_RECEIVED">, @Ctx() ctx: Context) {
    return withCursor(await ctx.loaders.notifications.notificationById.load(payload.notificationId), payload.position, ctx);
  }

  @FieldResolver(() => ID)
  id(@Root() row: NotificationRow) {
    return toGlobalId("Notification", row.id);
  }
}

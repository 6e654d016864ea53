import { Arg, Args, ArgsType, Ctx, Directive, Field, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { notFound } from "../../graphql/errors.ts";
import { decodeTimeCursor, pageSize, timeCursor, toConnection } from "../../graphql/pagination.ts";
import { money, PageArgs } from "../../graphql/types.ts";
import { SKIP, transform } from "../../events/iterators.ts";
import type { Delivered } from "../../events/bus.ts";
import { ALL } from "../../events/topics.ts";
import { AFTER_DESCRIPTION, resumeCursor } from "../../graphql/resume.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { User, type UserRow } from "../identity/index.ts";
import { Order, OrderConnection, OrderItem, OrderStatus, type OrderItemRow, type OrderRow, type OrderStatusValue } from "./order.type.ts";
import { orderKey } from "./orders.service.ts";
import { canSeeOrder, findVisibleOrder, seesAllOrders } from "./order.visibility.ts";
import type { NodeFetchers } from "../node.ts";

@ArgsType()
class OrdersArgs extends PageArgs {
  @Field(() => OrderStatus, { nullable: true })
  status?: OrderStatusValue | null;
}

/** An event's order: the row re-read for this subscriber, with the status and time the event carries. */
async function orderOfChange(change: Delivered<"ORDER_UPDATED">, ctx: Context): Promise<(OrderRow & { cursor: string }) | null> {
  const row = await ctx.loaders.orders.orderById.load(change.orderId);
  // Status, version and time as this event left them (a replayed event is not the order as it is now).
  return row && { ...row, status: change.status, version: change.version, updatedAt: new Date(change.updatedAt), cursor: ctx.events.cursor(change.position) };
}

/** `node(id)` for orders: the same visibility as `order(id)`. */
export const orderNodeFetchers: NodeFetchers = {
  Order: (key, ctx) => findVisibleOrder(ctx.viewer, key, ctx.loaders.orders),
};

@Resolver(() => Order)
export class OrderResolver {
  @Query(() => Order, { nullable: true, description: "An order of the signed-in user (STAFF: any); null when there is none to see." })
  @Directive("@auth")
  order(@Arg("id", () => ID) id: string, @Ctx() ctx: Context) {
    return ctx.services.orders.get(ctx.viewer!, id, ctx.loaders.orders);
  }

  @Query(() => OrderConnection, { description: "The signed-in user's orders; STAFF and ADMIN see every order." })
  @Directive("@auth")
  orders(@Args(() => OrdersArgs) args: OrdersArgs, @Ctx() ctx: Context) {
    return ctx.services.orders.list(ctx.viewer!, args);
  }

  @Mutation(() => Order, {
    description: "Places the cart as an order. Never sells more units than are in stock. The same key returns the same order, however often it is retried.",
  })
  @Directive("@auth")
  checkout(@Arg("idempotencyKey", () => String) idempotencyKey: string, @Ctx() ctx: Context) {
    return ctx.services.orders.checkout(ctx.viewer!, idempotencyKey);
  }

  @Mutation(() => Order, { description: "Cancels a PLACED or PAID order of the signed-in user (STAFF: any) and returns its stock." })
  @Directive("@auth")
  cancelOrder(@Arg("id", () => ID) id: string, @Ctx() ctx: Context) {
    return ctx.services.orders.cancel(ctx.viewer!, id);
  }

  @Mutation(() => Order, { description: "PLACED -> PAID -> SHIPPED -> DELIVERED; PLACED or PAID -> CANCELLED (stock returns)." })
  @Directive("@auth(requires: STAFF)")
  setOrderStatus(@Arg("id", () => ID) id: string, @Arg("status", () => OrderStatus) status: OrderStatusValue, @Ctx() ctx: Context) {
    return ctx.services.orders.setStatus(ctx.viewer!, id, status);
  }

  @Subscription(() => Order, {
    description: "Changes to the signed-in user's orders (one order if id is given). STAFF: any order.",
    subscribe: async ({ args, context }) => {
      const ctx = context as Context;
      const viewer = ctx.viewer!;
      const after = resumeCursor(args, ctx);
      let source;
      if (args.id != null) {
        // Someone else's order gets the same answer as one that does not exist.
        const key = orderKey(args.id as string);
        if (!(await findVisibleOrder(viewer, key, ctx.loaders.orders))) throw notFound("Order");
        source = await ctx.events.resume("ORDER_UPDATED", [key], after);
      } else {
        source = seesAllOrders(viewer)
          ? await ctx.events.resume("ANY_ORDER_UPDATED", [ALL], after)
          : await ctx.events.resume("USER_ORDER_UPDATED", [viewer.userId], after);
      }
      // Checked again per event, against the connection's viewer as it is then.
      return transform(source, (change) => (canSeeOrder(ctx.viewer, change) ? change : SKIP));
    },
  })
  @Directive("@auth")
  orderUpdated(
    @Arg("id", () => ID, { nullable: true }) _id: string | null,
    @Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) _after: string | null,
    @Root() change: Delivered<"ORDER_UPDATED">,
    @Ctx() ctx: Context,
  ) {
    return orderOfChange(change, ctx);
  }

  @Subscription(() => Order, {
    description: "Every newly placed order, for staff dashboards.",
    subscribe: ({ args, context }) => (context as Context).events.resume("ORDER_PLACED", [ALL], resumeCursor(args, context as Context)),
  })
  @Directive("@auth(requires: STAFF)")
  orderPlaced(
    @Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) _after: string | null,
    @Root() change: Delivered<"ORDER_PLACED">,
    @Ctx() ctx: Context,
  ) {
    return orderOfChange(change, ctx);
  }

  @FieldResolver(() => ID)
  id(@Root() order: OrderRow) {
    return toGlobalId("Order", order.id);
  }

  @FieldResolver(() => [OrderItem])
  items(@Root() order: OrderRow, @Ctx() ctx: Context) {
    return ctx.loaders.orders.itemsByOrderId.load(order.id);
  }

  @FieldResolver()
  total(@Root() order: OrderRow) {
    return money(order.totalCents, order.currency);
  }

  @FieldResolver()
  customer(@Root() order: OrderRow, @Ctx() ctx: Context) {
    return ctx.loaders.identity.userById.load(order.userId);
  }
}

@Resolver(() => OrderItem)
export class OrderItemResolver {
  /** The product as it is now (also when no longer ACTIVE: it is what the customer bought). */
  @FieldResolver()
  product(@Root() item: OrderItemRow, @Ctx() ctx: Context) {
    return ctx.loaders.catalog.productById.load(item.productId);
  }

  @FieldResolver()
  unitPrice(@Root() item: OrderItemRow) {
    return money(item.unitPriceCents, item.currency);
  }

  @FieldResolver()
  lineTotal(@Root() item: OrderItemRow) {
    return money(item.unitPriceCents * item.quantity, item.currency);
  }
}

@Resolver(() => User)
export class UserOrdersResolver {
  @FieldResolver(() => OrderConnection, { description: "This user's orders, newest first." })
  @Directive("@auth(ownerOrRole: STAFF)")
  async orders(@Root() user: UserRow, @Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context) {
    const limit = pageSize(args.first);
    const cursor = decodeTimeCursor(args.after);
    const rows = await ctx.loaders.orders.userOrdersPage.load({
      userId: user.id,
      take: limit + 1,
      after: cursor && timeCursor(cursor),
    });
    return toConnection(rows, limit, timeCursor, () => ctx.loaders.orders.orderCountByUser.load(user.id));
  }
}

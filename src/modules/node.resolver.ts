import type { GraphQLResolveInfo } from "graphql";
import { Arg, Ctx, ID, Info, Query, Resolver } from "type-graphql";
import { hasRole } from "../auth/roles.ts";
import type { Context } from "../graphql/context.ts";
import { Node } from "../graphql/types.ts";
import { fromGlobalId } from "../lib/ids.ts";
import { canReadOrder } from "./orders/index.ts";

/** Relay's `node(id)`: any object by global id, or null when it does not exist or is not visible. */
@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true })
  async node(@Arg("id", () => ID) id: string, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo) {
    const decoded = fromGlobalId(id);
    if (!decoded) return null;
    const { catalog, identity } = ctx.loaders;
    switch (decoded.type) {
      case "Product": {
        const row = await ctx.services.catalog.product(ctx.viewer, { id: decoded.key }, catalog, info);
        return row && { ...row, __typename: "Product" };
      }
      case "Category": {
        const row = await catalog.categoryById.load(decoded.key);
        return row && { ...row, __typename: "Category" };
      }
      case "User": {
        // Other people's accounts are not enumerable: the same null as for an unknown id.
        const viewer = ctx.viewer;
        if (!viewer || (viewer.userId !== decoded.key && !hasRole(viewer.role, "STAFF"))) return null;
        const row = await identity.userById.load(decoded.key);
        return row && { ...row, __typename: "User" };
      }
      case "Order": {
        const row = await ctx.loaders.orders.orderById.load(decoded.key);
        return row && canReadOrder(ctx.viewer, row) ? { ...row, __typename: "Order" } : null;
      }
      case "Notification": {
        const row = await ctx.loaders.notifications.notificationById.load(decoded.key);
        return row && ctx.viewer && row.userId === ctx.viewer.userId ? { ...row, __typename: "Notification" } : null;
      }
      case "AuditEvent": {
        // The same null as for an unknown id: the log's ids say nothing to anyone but an ADMIN.
        if (!ctx.viewer || !hasRole(ctx.viewer.role, "ADMIN")) return null;
        const row = await ctx.loaders.audit.auditEventById.load(decoded.key);
        return row && { ...row, __typename: "AuditEvent" };
      }
      default:
        return null;
    }
  }
}

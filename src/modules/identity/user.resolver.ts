import { Arg, Args, Ctx, Directive, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import { hasRole, type RoleName, type Viewer } from "../../auth/roles.ts";
import type { Context } from "../../graphql/context.ts";
import { PageArgs } from "../../graphql/types.ts";
import { toGlobalId } from "../../lib/ids.ts";
import type { NodeFetchers } from "../node.ts";
import { Role, User, UserConnection, type UserRow } from "./user.type.ts";

/** Whether `viewer` may look up this account by id: their own, or any for staff (others' ids are not enumerable). */
export function canSeeUser(viewer: Viewer | null, userId: string): boolean {
  return viewer !== null && (viewer.userId === userId || hasRole(viewer.role, "STAFF"));
}

/** `node(id)` for accounts: the same null for someone else's as for an unknown id. */
export const identityNodeFetchers: NodeFetchers = {
  User: async (key, ctx) => (canSeeUser(ctx.viewer, key) ? ctx.loaders.identity.userById.load(key) : null),
};

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { nullable: true, description: "The signed-in user; null when anonymous." })
  me(@Ctx() ctx: Context) {
    return ctx.viewer ? ctx.loaders.identity.userById.load(ctx.viewer.userId) : null;
  }

  @Query(() => UserConnection, { description: "Every account, oldest first." })
  @Directive("@auth(requires: ADMIN)")
  users(@Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context) {
    return ctx.services.identity.listUsers(args);
  }

  @Mutation(() => User, { description: "Changes an account's role; it applies to that user's next request. Not to one's own account." })
  @Directive("@auth(requires: ADMIN)")
  setUserRole(@Arg("userId", () => ID) userId: string, @Arg("role", () => Role) role: RoleName, @Ctx() ctx: Context) {
    return ctx.services.identity.setUserRole(ctx.viewer!, userId, role);
  }

  @FieldResolver(() => ID)
  id(@Root() user: UserRow) {
    return toGlobalId("User", user.id);
  }
}

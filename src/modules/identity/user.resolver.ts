import { Arg, Args, Ctx, Directive, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import type { RoleName } from "../../auth/roles.ts";
import type { Context } from "../../graphql/context.ts";
import { PageArgs } from "../../graphql/types.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { Role, User, UserConnection, type UserRow } from "./user.type.ts";

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

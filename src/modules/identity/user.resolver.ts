import { Ctx, FieldResolver, ID, Query, Resolver, Root } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { User, type UserRow } from "./user.type.ts";

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { nullable: true, description: "The signed-in user; null when anonymous." })
  me(@Ctx() ctx: Context) {
    return ctx.viewer ? ctx.loaders.identity.userById.load(ctx.viewer.userId) : null;
  }

  @FieldResolver(() => ID)
  id(@Root() user: UserRow) {
    return toGlobalId("User", user.id);
  }
}

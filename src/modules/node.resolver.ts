import type { GraphQLResolveInfo } from "graphql";
import { Arg, Ctx, ID, Info, Query, Resolver } from "type-graphql";
import type { Context } from "../graphql/context.ts";
import { Node } from "../graphql/types.ts";
import { fromGlobalId } from "../lib/ids.ts";
import type { NodeFetchers } from "./node.ts";

/**
 * Relay's `node(id)` over the modules' fetchers (modules/index.ts merges them): any object by
 * global id, or null when it does not exist, is not visible, or is of a type no module fetches.
 */
export function createNodeResolver(fetchers: NodeFetchers) {
  @Resolver()
  class NodeResolver {
    @Query(() => Node, { nullable: true })
    async node(@Arg("id", () => ID) id: string, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo) {
      const decoded = fromGlobalId(id);
      const fetch = decoded && Object.hasOwn(fetchers, decoded.type) ? fetchers[decoded.type] : undefined;
      if (!decoded || !fetch) return null;
      const row = await fetch(decoded.key, ctx, info);
      return row && { ...row, __typename: decoded.type };
    }
  }
  return NodeResolver;
}

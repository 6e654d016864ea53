import type { GraphQLResolveInfo } from "graphql";
import type { Context } from "../graphql/context.ts";

/**
 * How `node(id)` finds one type's object by the key of its global id: the object, or null both
 * when there is none and when the viewer may not see it (ids are not enumerable). Each module
 * registers the fetchers of its own types (its index's `<module>NodeFetchers`) and decides their
 * visibility with the same function as its other reads; modules/index.ts merges them.
 */
export type NodeFetcher = (key: string, ctx: Context, info: GraphQLResolveInfo) => Promise<object | null>;

/** Fetchers by GraphQL type name. */
export type NodeFetchers = Readonly<Record<string, NodeFetcher>>;

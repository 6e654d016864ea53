import "reflect-metadata";
import { ArgsType, Directive, Field, ID, Int, InterfaceType, ObjectType, type ClassType } from "type-graphql";

/** Picks a Node's concrete type: resolvers of `node(id)` set `__typename` on what they return. */
export const resolveNodeType = (value: { __typename?: string }) => value.__typename;

/** Relay's Node interface (schema.ts keeps its type resolution synchronous, see there). */
@InterfaceType({ resolveType: resolveNodeType })
export abstract class Node {
  @Field(() => ID)
  id!: string;
}

// Value types follow the cache policy of the field they hang from.
@Directive("@cacheControl(inheritMaxAge: true)")
@ObjectType({ simpleResolvers: true })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;

  // Relay's cursor connections spec lets forward-only connections (first/after, no last/before)
  // answer false here; knowing whether rows precede `after` would cost a query per connection.
  @Field(() => Boolean, {
    description:
      "Always false: connections page forward only (first/after), and the Relay cursor connections spec lets forward pagination answer false rather than look for rows before `after`.",
  })
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true, description: "The cursor of the first edge; null when there are no edges." })
  startCursor!: string | null;
}

@Directive("@cacheControl(inheritMaxAge: true)")
@ObjectType({ description: "An amount of money: integer minor units (cents) and an ISO-4217 currency code.", simpleResolvers: true })
export class Money {
  @Field(() => Int)
  amountCents!: number;

  @Field(() => String)
  currency!: string;
}

export function money(amountCents: number, currency: string): Money {
  return { amountCents, currency: currency.trim() };
}

/** What a connection resolver returns; `count` runs only when `totalCount` is selected. */
export interface ConnectionResult<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
  count: () => Promise<number>;
}

/**
 * Declares `<Name>Connection` and `<Name>Edge` for a node type, as the contract spells them.
 * `inheritCacheControl` lets a publicly cacheable list keep its field's cache hint.
 */
export function ConnectionType<T extends object>(name: string, node: () => ClassType<T>, options: { inheritCacheControl?: boolean } = {}) {
  const cache = options.inheritCacheControl ? Directive("@cacheControl(inheritMaxAge: true)") : () => {};
  @cache
  @ObjectType(`${name}Edge`, { simpleResolvers: true })
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(node)
    node!: T;
  }

  @cache
  @ObjectType(`${name}Connection`, { simpleResolvers: true })
  class Connection {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    count!: () => Promise<number>;

    @Field(() => Int)
    totalCount(): Promise<number> {
      return this.count();
    }
  }
  return Connection;
}

/** `first` and `after` of every connection field (validated by pagination.ts). */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

import { DirectiveLocation, GraphQLBoolean, GraphQLDirective, GraphQLEnumType, GraphQLInt } from "graphql";

/**
 * Apollo's `@cacheControl` (read by its cache-control plugin from the schema's AST), declared so
 * the emitted contract is a valid schema. Only the public catalog carries hints; every other root
 * field keeps maxAge 0, so responses holding anything else are `no-store`.
 */
export const CacheControlScope = new GraphQLEnumType({
  name: "CacheControlScope",
  values: { PUBLIC: {}, PRIVATE: {} },
});

export const cacheControlDirective = new GraphQLDirective({
  name: "cacheControl",
  description: "How long shared caches may keep a response with this field (Apollo cache control).",
  locations: [DirectiveLocation.FIELD_DEFINITION, DirectiveLocation.OBJECT, DirectiveLocation.INTERFACE, DirectiveLocation.UNION],
  args: {
    maxAge: { type: GraphQLInt },
    scope: { type: CacheControlScope },
    inheritMaxAge: { type: GraphQLBoolean },
  },
});

/** Seconds the public catalog (products, product, categories) may be cached. Live clients subscribe. */
export const CATALOG_MAX_AGE_SECONDS = 10;

import type { NodeFetchers } from "../node.ts";

/** `node(id)` for the catalog's types: products as `product(id)` answers them (visibility included). */
export const catalogNodeFetchers: NodeFetchers = {
  Product: (key, ctx, info) => ctx.services.catalog.product(ctx.viewer, { id: key }, ctx.loaders.catalog, info),
  Category: (key, ctx) => ctx.loaders.catalog.categoryById.load(key),
};

import type { GraphQLFieldResolver } from "graphql";
import type { Context } from "../../graphql/context.ts";
import { money } from "../../graphql/types.ts";
import { toGlobalId } from "../../lib/ids.ts";
import type { PageArgs } from "../../graphql/types.ts";
import { preloadedCategory } from "./catalog.preload.ts";
import type { CategoryRow, ProductRow } from "./product.type.ts";

/**
 * The catalog's field resolvers that are plain functions of their parent (and context). The
 * type-graphql resolver classes call them, and the schema also installs them as the fields'
 * resolvers directly (graphql/schema.ts, `plainResolvers`): a catalog page resolves thousands of
 * these, and type-graphql's wrapper (container lookup, parameter array, middleware chain) cost
 * more than the fields themselves.
 */
export const productId = (product: ProductRow) => toGlobalId("Product", product.id);
export const categoryId = (category: CategoryRow) => toGlobalId("Category", category.id);
export const productPrice = (product: ProductRow) => money(product.priceCents, product.currency);
export const productCategory = (product: ProductRow, ctx: Context) => {
  const preloaded = preloadedCategory(product);
  return preloaded !== undefined ? preloaded : ctx.loaders.catalog.categoryById.load(product.categoryId);
};

type Plain = Record<string, Record<string, GraphQLFieldResolver<any, Context, any>>>;

/** Installed by graphql/schema.ts over the type-graphql resolvers of the same fields. */
export function catalogPlainResolvers(categoryProducts: (category: CategoryRow, args: PageArgs, ctx: Context, info: Parameters<GraphQLFieldResolver<unknown, Context>>[3]) => unknown): Plain {
  return {
    Product: {
      id: productId,
      price: productPrice,
      category: (product: ProductRow, _args, ctx) => productCategory(product, ctx),
    },
    Category: {
      id: categoryId,
      products: (category: CategoryRow, args: PageArgs, ctx, info) => categoryProducts(category, args, ctx, info),
    },
  };
}

import type { GraphQLResolveInfo } from "graphql";
import { Arg, Args, Ctx, Directive, FieldResolver, ID, Info, Mutation, Query, Resolver, Root } from "type-graphql";
import { CategoryInput, CategoryPatch } from "./catalog.args.ts";
import { keyset } from "./catalog.paging.ts";
import { preloadedPage } from "./catalog.preload.ts";
import { CATALOG_MAX_AGE_SECONDS } from "../../graphql/cache-control.ts";
import type { Context } from "../../graphql/context.ts";
import { pageSize, toConnection } from "../../graphql/pagination.ts";
import { PageArgs } from "../../graphql/types.ts";
import { Category, ProductConnection, type CategoryRow } from "./product.type.ts";
import { categoryId } from "./catalog.fields.ts";

/**
 * Operation cost (graphql/limits.ts) of the unpaged category list: its selections count once per
 * category a shop is expected to have, so `categories { products(first: 100) { … } }` pays for
 * fifty categories' products (the default budget allows 50 × 20 products with a few fields each).
 */
export const CATEGORIES_COST_FACTOR = 50;

@Resolver(() => Category)
export class CategoryResolver {
  @Directive(`@cacheControl(maxAge: ${CATALOG_MAX_AGE_SECONDS})`)
  @Query(() => [Category], { complexity: ({ childComplexity }) => 1 + childComplexity * CATEGORIES_COST_FACTOR })
  categories(@Ctx() ctx: Context, @Info() info: GraphQLResolveInfo) {
    return ctx.services.catalog.categories(ctx.viewer, info);
  }

  @Mutation(() => Category, { description: "Adds a category at the end of the list. CONFLICT when the slug is taken." })
  @Directive("@auth(requires: STAFF)")
  createCategory(@Arg("input", () => CategoryInput) input: CategoryInput, @Ctx() ctx: Context) {
    return ctx.services.catalog.createCategory(ctx.viewer, input);
  }

  @Mutation(() => Category, { description: "Renames a category or changes its slug. CONFLICT when the new slug is taken." })
  @Directive("@auth(requires: STAFF)")
  updateCategory(@Arg("id", () => ID) id: string, @Arg("patch", () => CategoryPatch) patch: CategoryPatch, @Ctx() ctx: Context) {
    return ctx.services.catalog.updateCategory(ctx.viewer, id, patch);
  }

  // id and products also resolve without type-graphql's wrapper (catalog.fields.ts).
  @FieldResolver(() => ID)
  id(@Root() category: CategoryRow) {
    return categoryId(category);
  }

  @FieldResolver(() => ProductConnection)
  products(@Root() category: CategoryRow, @Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo) {
    return categoryProducts(category, args, ctx, info);
  }
}

/** Category.products: the page the catalog's statement preloaded, or one through the loaders. */
export function categoryProducts(category: CategoryRow, args: PageArgs, ctx: Context, info: Pick<GraphQLResolveInfo, "path">) {
  const preloaded = preloadedPage(category, info.path.key as string, args);
  return preloaded ?? categoryProductsGeneral(category, args, ctx);
}

async function categoryProductsGeneral(category: CategoryRow, args: PageArgs, ctx: Context) {
  const limit = pageSize(args.first);
  const rows = await ctx.loaders.catalog.categoryPage.load({
    categoryId: category.id,
    take: limit + 1,
    after: keyset("name", args.after) as [string, string] | null,
  });
  return toConnection(rows, limit, (r) => [r.name, r.id], () => ctx.loaders.catalog.productCountByCategory.load(category.id));
}

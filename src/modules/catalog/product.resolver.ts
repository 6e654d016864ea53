import type { GraphQLResolveInfo } from "graphql";
import { Arg, Args, Ctx, Directive, FieldResolver, ID, Info, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { badInput } from "../../graphql/errors.ts";
import { money } from "../../graphql/types.ts";
import { ProductInput, ProductPatch, ProductsArgs } from "./catalog.args.ts";
import { productKey } from "./catalog.validation.ts";
import { Product, ProductConnection, type ProductRow } from "./product.type.ts";
import { CATALOG_MAX_AGE_SECONDS } from "../../graphql/cache-control.ts";
import type { Delivered } from "../../events/bus.ts";
import { AFTER_DESCRIPTION, resumeCursor, withCursor } from "../../graphql/resume.ts";
import { SKIP, transform } from "../../events/iterators.ts";
import { productCategory, productId, productPrice } from "./catalog.fields.ts";

@Resolver(() => Product)
export class ProductResolver {
  @Directive(`@cacheControl(maxAge: ${CATALOG_MAX_AGE_SECONDS})`)
  @Query(() => ProductConnection)
  products(@Args(() => ProductsArgs) args: ProductsArgs, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo) {
    return ctx.services.catalog.listProducts(ctx.viewer, args, info);
  }

  @Directive(`@cacheControl(maxAge: ${CATALOG_MAX_AGE_SECONDS})`)
  @Query(() => Product, { nullable: true, description: "A product by id or slug (exactly one); null when there is none." })
  async product(
    @Arg("id", () => ID, { nullable: true }) id: string | null,
    @Arg("slug", () => String, { nullable: true }) slug: string | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ) {
    if ((id == null) === (slug == null)) throw badInput("pass exactly one of id and slug");
    const by = slug != null ? { slug } : { id: productKey(id!) };
    return ctx.services.catalog.product(ctx.viewer, by, ctx.loaders.catalog, info);
  }

  @Mutation(() => Product)
  @Directive("@auth(requires: STAFF)")
  createProduct(@Arg("input", () => ProductInput) input: ProductInput, @Ctx() ctx: Context) {
    return ctx.services.catalog.createProduct(ctx.viewer, input);
  }

  @Mutation(() => Product)
  @Directive("@auth(requires: STAFF)")
  updateProduct(
    @Arg("id", () => ID) id: string,
    @Arg("patch", () => ProductPatch) patch: ProductPatch,
    @Ctx() ctx: Context,
  ) {
    return ctx.services.catalog.updateProduct(ctx.viewer, id, patch);
  }

  @Subscription(() => Product, {
    description: "Public. Fires when the product's name, price, status or description changes.",
    subscribe: async ({ args, context }) => {
      const ctx = context as Context;
      const events = await ctx.events.resume("PRODUCT_UPDATED", [productKey(args.id as string)], resumeCursor(args, ctx));
      return transform(events, async (e) => ((await ctx.services.catalog.isVisibleNow(ctx.viewer, e.productId, ctx.eventLoaders(e).catalog)) ? e : SKIP));
    },
  })
  async productUpdated(@Arg("id", () => ID) _id: string, @Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) _after: string | null, @Root() payload: Delivered<"PRODUCT_UPDATED">, @Ctx() ctx: Context) {
    return withCursor(await ctx.loaders.catalog.productById.load(payload.productId), payload.position, ctx);
  }

  // id, price and category also resolve without type-graphql's wrapper (catalog.fields.ts).
  @FieldResolver(() => ID)
  id(@Root() product: ProductRow) {
    return productId(product);
  }

  @FieldResolver()
  price(@Root() product: ProductRow) {
    return productPrice(product);
  }

  @FieldResolver()
  costPrice(@Root() product: ProductRow) {
    return product.costCents === null ? null : money(product.costCents, product.currency);
  }

  @FieldResolver()
  category(@Root() product: ProductRow, @Ctx() ctx: Context) {
    return productCategory(product, ctx);
  }
}

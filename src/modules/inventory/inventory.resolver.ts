import { Arg, Ctx, Directive, FieldResolver, ID, Int, Mutation, Resolver, Root, Subscription } from "type-graphql";
import type { Delivered } from "../../events/bus.ts";
import { AFTER_DESCRIPTION, resumeCursor } from "../../graphql/resume.ts";
import { SKIP, transform } from "../../events/iterators.ts";
import type { Context } from "../../graphql/context.ts";
import { badInput } from "../../graphql/errors.ts";
import { Product, preloadedStock, productKey, type ProductRow } from "../catalog/index.ts";
import { StockUpdate } from "./stock.type.ts";

const MAX_WATCHED = 100;

/** Product.stock and Product.inStock: what a catalog read preloaded, or the loader's answer. */
function stockOf(product: ProductRow, ctx: Context): number | Promise<number> {
  return preloadedStock(product) ?? ctx.loaders.inventory.stockByProductId.load(product.id);
}

function inStockOf(product: ProductRow, ctx: Context): boolean | Promise<boolean> {
  const stock = stockOf(product, ctx);
  return typeof stock === "number" ? stock > 0 : stock.then((n) => n > 0);
}

/** Installed by graphql/schema.ts without type-graphql's wrapper (see catalog.fields.ts). */
export const inventoryPlainResolvers = {
  Product: {
    stock: (product: ProductRow, _args: unknown, ctx: Context) => stockOf(product, ctx),
    inStock: (product: ProductRow, _args: unknown, ctx: Context) => inStockOf(product, ctx),
  },
};

@Resolver(() => Product)
export class ProductStockResolver {
  @FieldResolver(() => Int, { description: "Units that can be sold now." })
  stock(@Root() product: ProductRow, @Ctx() ctx: Context) {
    return stockOf(product, ctx);
  }

  @FieldResolver(() => Boolean)
  inStock(@Root() product: ProductRow, @Ctx() ctx: Context) {
    return inStockOf(product, ctx);
  }

  @Mutation(() => Product)
  @Directive("@auth(requires: STAFF)")
  adjustStock(@Arg("productId", () => ID) productId: string, @Arg("delta", () => Int) delta: number, @Ctx() ctx: Context) {
    return ctx.services.inventory.adjustStock(ctx.viewer!, productId, delta);
  }
}

@Resolver(() => StockUpdate)
export class StockUpdateResolver {
  @Subscription(() => StockUpdate, {
    description: "Public. Fires when any of these products' stock changes.",
    subscribe: async ({ args, context }) => {
      const ids = args.productIds as string[];
      if (ids.length === 0 || ids.length > MAX_WATCHED) throw badInput(`productIds must list 1 to ${MAX_WATCHED} ids`, "productIds");
      const ctx = context as Context;
      const keys = [...new Set(ids.map((id) => productKey(id, "productIds")))];
      const events = await ctx.events.resume("STOCK_CHANGED", keys, resumeCursor(args, ctx));
      // Drafts and archived products stay hidden from those who may not see them, as in product(id).
      return transform(events, async (e) => ((await ctx.services.catalog.isVisibleNow(ctx.viewer, e.productId, ctx.eventLoaders(e).catalog)) ? e : SKIP));
    },
  })
  stockChanged(@Arg("productIds", () => [ID]) _ids: string[], @Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) _after: string | null, @Root() payload: Delivered<"STOCK_CHANGED">, @Ctx() ctx: Context) {
    return {
      productId: payload.productId,
      stock: payload.stock,
      inStock: payload.stock > 0,
      version: payload.version,
      cursor: ctx.events.cursor(payload.position),
    };
  }

  @FieldResolver(() => Product)
  product(@Root() update: { productId: string }, @Ctx() ctx: Context) {
    return ctx.loaders.catalog.productById.load(update.productId);
  }
}

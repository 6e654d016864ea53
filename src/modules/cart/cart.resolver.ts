import { Arg, Ctx, Directive, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { money } from "../../graphql/types.ts";
import type { Delivered } from "../../events/bus.ts";
import { AFTER_DESCRIPTION, resumeCursor } from "../../graphql/resume.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { Cart, CartItem, type CartLine, type CartView } from "./cart.type.ts";

/** The currency of an empty cart's subtotal. */
const DEFAULT_CURRENCY = "USD";

const EXPECTED_VERSION = {
  nullable: true,
  description:
    "The cart version this change was made against (from Cart.version); when the cart has moved on, CONFLICT with the current cart in extensions.cart",
} as const;

@Resolver(() => Cart)
export class CartResolver {
  @Query(() => Cart, { description: "The signed-in user's cart (created empty on first use)." })
  @Directive("@auth")
  cart(@Ctx() ctx: Context) {
    return ctx.services.cart.cart(ctx.viewer!);
  }

  @Mutation(() => Cart)
  @Directive("@auth")
  addToCart(
    @Arg("productId", () => ID) productId: string,
    @Arg("quantity", () => Int) quantity: number,
    @Arg("expectedVersion", () => Int, EXPECTED_VERSION) expectedVersion: number | null,
    @Ctx() ctx: Context,
  ) {
    return ctx.services.cart.addToCart(ctx.viewer!, productId, quantity, expectedVersion);
  }

  @Mutation(() => Cart, { description: "Quantity 0 removes the line." })
  @Directive("@auth")
  setCartItemQuantity(
    @Arg("productId", () => ID) productId: string,
    @Arg("quantity", () => Int) quantity: number,
    @Arg("expectedVersion", () => Int, EXPECTED_VERSION) expectedVersion: number | null,
    @Ctx() ctx: Context,
  ) {
    return ctx.services.cart.setCartItemQuantity(ctx.viewer!, productId, quantity, expectedVersion);
  }

  @Mutation(() => Cart)
  @Directive("@auth")
  clearCart(@Arg("expectedVersion", () => Int, EXPECTED_VERSION) expectedVersion: number | null, @Ctx() ctx: Context) {
    return ctx.services.cart.clearCart(ctx.viewer!, expectedVersion);
  }

  @Subscription(() => Cart, {
    description: "The signed-in user's cart, on every change from any device or session.",
    subscribe: ({ args, context }) => {
      const ctx = context as Context;
      return ctx.events.resume("CART_UPDATED", [ctx.viewer!.userId], resumeCursor(args, ctx));
    },
  })
  @Directive("@auth")
  cartUpdated(@Arg("after", () => String, { nullable: true, description: AFTER_DESCRIPTION }) _after: string | null, @Root() snapshot: Delivered<"CART_UPDATED">, @Ctx() ctx: Context): CartView {
    return {
      id: snapshot.cartId,
      userId: snapshot.userId,
      version: snapshot.version,
      updatedAt: new Date(snapshot.updatedAt),
      items: snapshot.items,
      cursor: ctx.events.cursor(snapshot.position),
    };
  }

  @FieldResolver(() => ID)
  id(@Root() cart: CartView) {
    return toGlobalId("Cart", cart.id);
  }

  @FieldResolver(() => [CartItem])
  items(@Root() cart: CartView) {
    return cart.items;
  }

  @FieldResolver(() => Int)
  itemCount(@Root() cart: CartView) {
    return cart.items.reduce((sum, line) => sum + line.quantity, 0);
  }

  @FieldResolver()
  async subtotal(@Root() cart: CartView, @Ctx() ctx: Context) {
    const products = await ctx.loaders.catalog.productById.loadMany(cart.items.map((l) => l.productId));
    let cents = 0;
    let currency = DEFAULT_CURRENCY;
    for (const [i, product] of products.entries()) {
      if (!product || product instanceof Error) continue;
      cents += product.priceCents * cart.items[i]!.quantity;
      currency = product.currency;
    }
    return money(cents, currency);
  }
}

@Resolver(() => CartItem)
export class CartItemResolver {
  @FieldResolver()
  product(@Root() line: CartLine, @Ctx() ctx: Context) {
    return ctx.loaders.catalog.productById.load(line.productId);
  }

  @FieldResolver()
  async lineTotal(@Root() line: CartLine, @Ctx() ctx: Context) {
    const product = await ctx.loaders.catalog.productById.load(line.productId);
    return money((product?.priceCents ?? 0) * line.quantity, product?.currency ?? DEFAULT_CURRENCY);
  }
}

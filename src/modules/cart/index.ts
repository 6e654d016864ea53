export { CartChangedError, CartService, cartHash, cartHoldersSql, MAX_LINE_QUANTITY, type CheckoutLine, type TakenCart } from "./cart.service.ts";
export type { CartLine, CartView } from "./cart.type.ts";
import { CartItemResolver, CartResolver } from "./cart.resolver.ts";

export const cartResolvers = [CartResolver, CartItemResolver] as const;

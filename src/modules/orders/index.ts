export { OrdersService } from "./orders.service.ts";
export { canSeeOrder, findVisibleOrder, seesAllOrders } from "./order.visibility.ts";
export { createOrderLoaders, type OrderLoaders } from "./orders.loaders.ts";
export { Order, type OrderRow } from "./order.type.ts";
import { OrderItemResolver, OrderResolver, UserOrdersResolver } from "./order.resolver.ts";

export const orderResolvers = [OrderResolver, OrderItemResolver, UserOrdersResolver] as const;
export { orderNodeFetchers } from "./order.resolver.ts";
/** Owner of each type this module guards with `@auth(ownerOrRole)`. */
export const orderOwners = { Order: (order: unknown) => (order as { userId: string }).userId };

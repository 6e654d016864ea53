import { hasRole, type Viewer } from "../../auth/roles.ts";
import type { Prisma as PrismaNS } from "../../generated/prisma/client.ts";
import type { OrderLoaders } from "./orders.loaders.ts";
import type { OrderRow } from "./order.type.ts";

/**
 * Who sees which orders, decided here and only here: customers their own, staff every one. The
 * order query, node(id), orderUpdated (when subscribing and on every event), order lists and
 * status changes all ask these.
 */

/** Whether `viewer` sees every order (staff), not only their own. */
export const seesAllOrders = (viewer: Viewer | null): boolean => viewer !== null && hasRole(viewer.role, "STAFF");

/** Whether `viewer` may see (and, where the field allows, act on) this order. */
export function canSeeOrder(viewer: Viewer | null, order: { userId: string }): boolean {
  return viewer !== null && (order.userId === viewer.userId || seesAllOrders(viewer));
}

/** The orders `viewer` may see, as a Prisma filter (`viewer` signed in: lists are under `@auth`). */
export function visibleOrdersWhere(viewer: Viewer): PrismaNS.OrderWhereInput {
  return seesAllOrders(viewer) ? {} : { userId: viewer.userId };
}

/** The order with this key if `viewer` may see it; null both when there is none and when it is someone else's. */
export async function findVisibleOrder(viewer: Viewer | null, key: string, loaders: OrderLoaders): Promise<OrderRow | null> {
  const row = await loaders.orderById.load(key);
  return row && canSeeOrder(viewer, row) ? row : null;
}

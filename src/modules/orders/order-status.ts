import type { OrderStatusValue } from "./order.type.ts";

/** Where an order may go from each status; anything else is refused with BAD_USER_INPUT. */
export const TRANSITIONS: Readonly<Record<OrderStatusValue, readonly OrderStatusValue[]>> = {
  PLACED: ["PAID", "CANCELLED"],
  PAID: ["SHIPPED", "CANCELLED"],
  SHIPPED: ["DELIVERED"],
  DELIVERED: [],
  CANCELLED: [],
};

export function canTransition(from: OrderStatusValue, to: OrderStatusValue): boolean {
  return TRANSITIONS[from].includes(to);
}

/** How a notification says what happened. */
export const STATUS_WORDS: Readonly<Record<OrderStatusValue, string>> = {
  PLACED: "placed",
  PAID: "paid",
  SHIPPED: "shipped",
  DELIVERED: "delivered",
  CANCELLED: "cancelled",
};

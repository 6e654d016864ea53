/**
 * Every event Cartwheel publishes, with its payload. Topics are scoped by id (`CART_UPDATED:<userId>`)
 * so a subscriber only receives what it asked for; payloads are ids and primitives (plain JSON on
 * Redis), and subscribers re-read everything else through their own loaders and authorization.
 */
export interface TopicPayloads {
  /** `version` counts the product's stock changes. */
  STOCK_CHANGED: { productId: string; stock: number; version: number };
  PRODUCT_UPDATED: { productId: string };
  /**
   * Scoped by `all`: a catalog change no public subscription carries (a product created; an edit
   * that changed only fields outside PRODUCT_UPDATED, such as its category; a category created or
   * edited). The response cache listens to it, with PRODUCT_UPDATED and STOCK_CHANGED.
   */
  CATALOG_CHANGED: { productId: string } | { categoryId: string };
  /** Scoped by user id. The cart as this change left it, so every event shows its own version. */
  CART_UPDATED: CartSnapshot;
  /** Scoped by order id. */
  ORDER_UPDATED: OrderChange;
  /** Scoped by the owner's user id: all of one customer's orders. */
  USER_ORDER_UPDATED: OrderChange;
  /** Scoped by `all`: every order, for staff. */
  ANY_ORDER_UPDATED: OrderChange;
  /** Scoped by `all`: newly placed orders, for staff. */
  ORDER_PLACED: OrderChange;
  /** Scoped by the recipient's user id. */
  NOTIFICATION_RECEIVED: { notificationId: string; userId: string };
  /** Scoped by user id: open sockets of that user apply it at once (close revoked sessions, take the new role). */
  VIEWER_CHANGED: ViewerChange;
}

export interface ViewerChange {
  userId: string;
  /** Sessions logged out or revoked; `"all"` for every session of the user. */
  revokedSessions?: string[] | "all";
  role?: "CUSTOMER" | "STAFF" | "ADMIN";
}

export interface CartSnapshot {
  cartId: string;
  userId: string;
  version: number;
  /** ISO-8601. */
  updatedAt: string;
  items: { productId: string; quantity: number }[];
}

/** What an order became: status and time travel with the event, the rest is re-read. */
export interface OrderChange {
  orderId: string;
  userId: string;
  status: "PLACED" | "PAID" | "SHIPPED" | "DELIVERED" | "CANCELLED";
  /** 1 when placed, +1 on every status change. */
  version: number;
  /** ISO-8601. */
  updatedAt: string;
}

/** The scope id of topics that carry every event of their kind. */
export const ALL = "all";

export type TopicName = keyof TopicPayloads;

/**
 * The topics that change what the public catalog shows (products, their stock, categories): every
 * committed change to it emits one of them, so a cached catalog response older than the last such
 * event an instance has been told about is stale (server/response-cache.ts).
 */
export const CATALOG_TOPICS: readonly TopicName[] = ["PRODUCT_UPDATED", "STOCK_CHANGED", "CATALOG_CHANGED"];

export interface Event<K extends TopicName = TopicName> {
  topic: K;
  /** The id the topic is scoped by. */
  id: string;
  payload: TopicPayloads[K];
}

export function event<K extends TopicName>(topic: K, id: string, payload: TopicPayloads[K]): Event<K> {
  return { topic, id, payload };
}

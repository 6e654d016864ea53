import { randomUUID } from "node:crypto";
import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { ALL, event, type Event } from "../../events/topics.ts";
import { Prisma as PrismaNS } from "../../generated/prisma/client.ts";
import { AppError, badInput, conflict, notFound } from "../../graphql/errors.ts";
import { decodeTimeCursor, pageSize, timeCursor, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { keyOf, toGlobalId } from "../../lib/ids.ts";
import { MAX_AMOUNT_CENTS } from "../../lib/money.ts";
import { CartChangedError, cartHash, type CartService, type CheckoutLine } from "../cart/index.ts";
import type { InventoryService } from "../inventory/index.ts";
import type { Notified, NotificationsService } from "../notifications/index.ts";
import { canTransition, STATUS_WORDS } from "./order-status.ts";
import type { OrderRow, OrderStatusValue } from "./order.type.ts";
import { canSeeOrder, findVisibleOrder, visibleOrdersWhere } from "./order.visibility.ts";
import { ORDER_ROW, type OrderLoaders } from "./orders.loaders.ts";

const MAX_KEY_LENGTH = 200;
/** Runs of a checkout whose cart changed while it waited for the cart's lock; then CONFLICT. */
const MAX_ATTEMPTS = 5;

/** An order's number: CW- and its seq, at least six digits. Checkout's INSERT writes the same in SQL. */
export function orderNumber(seq: number): string {
  return `CW-${String(seq).padStart(6, "0")}`;
}

export function orderKey(id: string, argument = "id"): string {
  const key = keyOf(id, "Order");
  if (!key) throw badInput(`${argument} is not an Order id`, argument);
  return key;
}

/** The events of an order reaching `order.status`: by order, by owner, for staff, and when new, placed. */
function orderEvents(order: OrderRow, placed: boolean): Event[] {
  const change = { orderId: order.id, userId: order.userId, status: order.status, version: order.version, updatedAt: order.updatedAt.toISOString() };
  return [
    event("ORDER_UPDATED", order.id, change),
    event("USER_ORDER_UPDATED", order.userId, change),
    event("ANY_ORDER_UPDATED", ALL, change),
    ...(placed ? [event("ORDER_PLACED", ALL, change)] : []),
  ];
}

export interface ListOrdersInput {
  first?: number | null;
  after?: string | null;
  status?: OrderStatusValue | null;
}

/**
 * Checkout, order lifecycle and order lists. Stock moves through the inventory ledger, cart and
 * notification rows are written in the same transaction; events are published after commit.
 */
export class OrdersService {
  constructor(
    private readonly prisma: Prisma,
    private readonly bus: EventBus,
    private readonly inventory: InventoryService,
    private readonly carts: CartService,
    private readonly notifications: NotificationsService,
  ) {}

  /** The order if `viewer` may see it (read through this operation's loaders); null both when it does not exist and when it is someone else's. */
  get(viewer: Viewer, id: string, loaders: OrderLoaders): Promise<OrderRow | null> {
    const key = keyOf(id, "Order");
    return key ? findVisibleOrder(viewer, key, loaders) : Promise.resolve(null);
  }

  async list(viewer: Viewer, input: ListOrdersInput): Promise<ConnectionResult<OrderRow>> {
    const limit = pageSize(input.first);
    const where: PrismaNS.OrderWhereInput = {
      ...visibleOrdersWhere(viewer),
      ...(input.status ? { status: input.status } : {}),
    };
    const cursor = decodeTimeCursor(input.after);
    const keyset: PrismaNS.OrderWhereInput | null = cursor && {
      OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }],
    };
    const rows = await this.prisma.order.findMany({
      where: keyset ? { AND: [where, keyset] } : where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: limit + 1,
      select: ORDER_ROW,
    });
    return toConnection(rows, limit, timeCursor, () => this.prisma.order.count({ where }));
  }

  /**
   * Turns the viewer's cart into an order, atomically: every line's stock is taken (never below
   * zero) or none is. The same key returns the same order however often it is retried, also
   * concurrently; the key with a different cart is a CONFLICT.
   *
   * A placed order costs five statements here (cart, order, stock, outbox, COMMIT; see `place`).
   * Every way of not placing one rolls back first, then looks for an order the key already placed.
   */
  async checkout(viewer: Viewer, idempotencyKey: string): Promise<OrderRow> {
    const key = idempotencyKey.trim();
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw badInput(`idempotencyKey must be 1 to ${MAX_KEY_LENGTH} characters`, "idempotencyKey");
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await transactional(this.prisma, this.bus, (tx, emit) => this.place(tx, emit, viewer.userId, key));
      } catch (error) {
        // Another checkout or cart change of this user committed while this one waited for the cart.
        if (error instanceof CartChangedError && attempt < MAX_ATTEMPTS) continue;
        if (error instanceof CartChangedError) throw conflict("The cart kept changing during checkout; try again");
        if (error instanceof NotPlaced) return this.placedBefore(viewer.userId, key, error);
        if (error instanceof StockShort) throw insufficientStock(error.line, await this.inventory.onHand(error.line.productId));
        throw error;
      }
    }
  }

  /**
   * Takes the cart (its lines, locked), writes the order with its items and the owner's
   * notification, then takes the stock: the contended rows are locked last, so that only the
   * outbox write and the commit happen while other checkouts of those products wait.
   */
  private async place(tx: Tx, emit: (e: Event) => void, userId: string, key: string): Promise<OrderRow> {
    const { lines, emptied } = await this.carts.takeForCheckout(tx, userId);
    if (lines.length === 0 || !emptied) throw new NotPlaced(lines, badInput("The cart is empty", "idempotencyKey"));
    let totalCents = 0;
    const currency = lines[0]!.currency;
    for (const line of lines) {
      if (line.status !== "ACTIVE") {
        throw new NotPlaced(lines, badInput(`"${line.name}" is no longer for sale; remove it from the cart`, "idempotencyKey"));
      }
      if (line.currency !== currency) throw new NotPlaced(lines, badInput("The cart mixes currencies", "idempotencyKey"));
      totalCents += line.priceCents * line.quantity;
    }
    if (totalCents > MAX_AMOUNT_CENTS) throw new NotPlaced(lines, badInput("The order total is too large for one order", "idempotencyKey"));
    // Short already in the cart statement's snapshot: fail before writing or locking anything (the
    // checkout is then as if run at that snapshot). Otherwise taking the stock decides, below.
    const seenShort = lines.find((l) => l.onHand < l.quantity);
    if (seenShort) throw new NotPlaced(lines, insufficientStock(seenShort, seenShort.onHand));

    const placed = await this.insertOrder(tx, { userId, key, hash: cartHash(lines), totalCents, currency, lines });
    if (!placed) throw new NotPlaced(lines, null);
    const { order, notified } = placed;
    const unserved = await this.inventory.takeForOrder(tx, lines, { orderId: order.id, actorId: userId }, emit);
    if (unserved) throw new StockShort(unserved);
    emit(emptied);
    this.notifications.emitReceived(emit, notified);
    for (const e of orderEvents(order, true)) emit(e);
    return order;
  }

  /**
   * One statement: the order (number from the sequence), its items at the cart's prices and the
   * owner's ORDER_UPDATES notification if enabled. Null, with nothing written, when this key has
   * placed an order already: one committed (then no number is drawn either) or, should it ever
   * race, one not yet committed (the unique index decides).
   */
  private async insertOrder(
    tx: Tx,
    o: { userId: string; key: string; hash: string; totalCents: number; currency: string; lines: readonly CheckoutLine[] },
  ): Promise<{ order: OrderRow; notified: Notified[] } | null> {
    const id = randomUUID();
    const message = ownerMessage("PLACED");
    const number = PrismaNS.sql`(SELECT number FROM o)`;
    const notification = this.notifications.insert("ORDER_UPDATES", PrismaNS.sql`SELECT "userId" FROM o`, {
      title: PrismaNS.sql`replace(${message.title}, '%s', ${number})`,
      body: PrismaNS.sql`replace(${message.body}, '%s', ${number})`,
      data: { orderId: toGlobalId("Order", id) },
    });
    const { lines } = o;
    const [row] = await tx.$queryRaw<(OrderRow & { notified: Notified[] })[]>`
      WITH o AS (
        INSERT INTO orders (id, seq, number, user_id, total_cents, currency, idempotency_key, cart_hash)
        SELECT ${id}::uuid, s.seq, 'CW-' || lpad(s.seq::text, greatest(6, length(s.seq::text)), '0'),
               ${o.userId}::uuid, ${o.totalCents}::int, ${o.currency}, ${o.key}, ${o.hash}
        FROM (SELECT nextval(pg_get_serial_sequence('orders', 'seq'))::int AS seq
              WHERE NOT EXISTS (SELECT 1 FROM orders WHERE user_id = ${o.userId}::uuid AND idempotency_key = ${o.key})) s
        ON CONFLICT (user_id, idempotency_key) DO NOTHING
        RETURNING id, number, user_id AS "userId", status::text AS status, version, total_cents AS "totalCents",
                  currency, created_at AS "createdAt", updated_at AS "updatedAt"),
      items AS (
        INSERT INTO order_items (order_id, product_id, product_name, unit_price_cents, currency, quantity)
        SELECT o.id, i.* FROM o, unnest(${lines.map((l) => l.productId)}::uuid[], ${lines.map((l) => l.name)}::text[],
          ${lines.map((l) => l.priceCents)}::int[], ${lines.map((l) => l.currency)}::text[], ${lines.map((l) => l.quantity)}::int[]) AS i),
      n AS (${notification})
      SELECT o.*, (SELECT coalesce(json_agg(n), '[]'::json) FROM n) AS notified FROM o`;
    if (!row) return null;
    const { notified, ...order } = row;
    return { order, notified };
  }

  /** After a rollback: the order `key` placed before, if the cart is empty or the one it was placed from; else `reason`. */
  private async placedBefore(userId: string, key: string, { lines, reason }: NotPlaced): Promise<OrderRow> {
    const existing = await this.prisma.order.findUnique({
      where: { userId_idempotencyKey: { userId, idempotencyKey: key } },
      select: { ...ORDER_ROW, cartHash: true },
    });
    if (!existing) throw reason ?? new Error("An order with this idempotency key was there, then was not");
    const { cartHash: placedWith, ...order } = existing;
    if (lines.length === 0 || placedWith === cartHash(lines)) return order;
    throw conflict("This idempotency key was already used to place an order from a different cart");
  }

  /** The owner (or staff) cancels a PLACED or PAID order; its stock goes back. */
  cancel(viewer: Viewer, id: string): Promise<OrderRow> {
    return this.transition(viewer, orderKey(id), "CANCELLED");
  }

  /** Staff move an order along the transition table. */
  setStatus(viewer: Viewer, id: string, status: OrderStatusValue): Promise<OrderRow> {
    return this.transition(viewer, orderKey(id), status);
  }

  private transition(viewer: Viewer, key: string, to: OrderStatusValue): Promise<OrderRow> {
    return transactional(this.prisma, this.bus, async (tx, emit) => {
      const [locked] = await tx.$queryRaw<{ userId: string; status: OrderStatusValue }[]>`
        SELECT user_id AS "userId", status::text AS status FROM orders WHERE id = ${key}::uuid FOR UPDATE`;
      if (!locked || !canSeeOrder(viewer, locked)) throw notFound("Order");
      if (!canTransition(locked.status, to)) {
        throw badInput(`An order that is ${locked.status} cannot become ${to}`, "status");
      }
      const order = await tx.order.update({ where: { id: key }, data: { status: to, version: { increment: 1 } }, select: ORDER_ROW });
      if (to === "CANCELLED") {
        const items = await tx.orderItem.findMany({ where: { orderId: key }, orderBy: { productId: "asc" } });
        for (const item of items) {
          await this.inventory.restock(
            tx,
            { productId: item.productId, delta: item.quantity, reason: "CANCELLATION", orderId: key, actorId: viewer.userId },
            emit,
          );
        }
      }
      await this.notifyOwner(tx, emit, order);
      for (const e of orderEvents(order, false)) emit(e);
      return order;
    });
  }

  private notifyOwner(tx: Tx, emit: (e: Event) => void, order: OrderRow): Promise<number> {
    const message = ownerMessage(order.status);
    return this.notifications.notify(tx, emit, "ORDER_UPDATES", { userIds: [order.userId] }, {
      title: message.title.replace("%s", order.number),
      body: message.body.replace("%s", order.number),
      data: { orderId: toGlobalId("Order", order.id) },
    });
  }
}

/** INSUFFICIENT_STOCK naming the line's product. */
function insufficientStock(line: CheckoutLine, available: number): AppError {
  return new AppError("INSUFFICIENT_STOCK", `Only ${available} of "${line.name}" in stock; the cart holds ${line.quantity}`, {
    productId: toGlobalId("Product", line.productId),
    available,
    requested: line.quantity,
  });
}

/** The owner's notification of an order reaching `status`; `%s` stands for the order number. */
function ownerMessage(status: OrderStatusValue): { title: string; body: string } {
  const word = STATUS_WORDS[status];
  return { title: `Order %s ${word}`, body: `Your order %s has been ${word}.` };
}

/**
 * Checkout stopped before placing an order (the transaction rolls back): `reason` is what to tell
 * the client unless the key placed an order already; null when the key is known to have.
 */
class NotPlaced extends Error {
  constructor(
    readonly lines: readonly CheckoutLine[],
    readonly reason: AppError | null,
  ) {
    super(reason?.message ?? "The idempotency key has placed an order already");
  }
}

/** A line whose stock ran short when it was taken (the transaction rolls back; the key is known unused). */
class StockShort extends Error {
  constructor(readonly line: CheckoutLine) {
    super(`Not enough stock of ${line.productId}`);
  }
}

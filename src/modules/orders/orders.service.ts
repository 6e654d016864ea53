import { hasRole, type Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { isUniqueViolation, transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { ALL, event, type Event } from "../../events/topics.ts";
import type { Prisma as PrismaNS } from "../../generated/prisma/client.ts";
import { AppError, badInput, conflict, notFound } from "../../graphql/errors.ts";
import { decodeTimeCursor, pageSize, timeCursor, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { keyOf, toGlobalId } from "../../lib/ids.ts";
import { MAX_AMOUNT_CENTS } from "../../lib/money.ts";
import { cartHash, type CartService } from "../cart/index.ts";
import type { InventoryService } from "../inventory/index.ts";
import type { NotificationsService } from "../notifications/index.ts";
import { canTransition, STATUS_WORDS } from "./order-status.ts";
import type { OrderRow, OrderStatusValue } from "./order.type.ts";
import { ORDER_ROW } from "./orders.loaders.ts";

const MAX_KEY_LENGTH = 200;

/** Staff see every order; customers only their own. */
export function canReadOrder(viewer: Viewer | null, order: { userId: string }): boolean {
  return viewer !== null && (order.userId === viewer.userId || hasRole(viewer.role, "STAFF"));
}

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

  /** The order if `viewer` may read it; null both when it does not exist and when it is someone else's. */
  async get(viewer: Viewer, id: string, load: (key: string) => Promise<OrderRow | null>): Promise<OrderRow | null> {
    const key = keyOf(id, "Order");
    if (!key) return null;
    const row = await load(key);
    return row && canReadOrder(viewer, row) ? row : null;
  }

  async list(viewer: Viewer, input: ListOrdersInput): Promise<ConnectionResult<OrderRow>> {
    const limit = pageSize(input.first);
    const where: PrismaNS.OrderWhereInput = {
      ...(hasRole(viewer.role, "STAFF") ? {} : { userId: viewer.userId }),
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
   */
  async checkout(viewer: Viewer, idempotencyKey: string): Promise<OrderRow> {
    const key = idempotencyKey.trim();
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw badInput(`idempotencyKey must be 1 to ${MAX_KEY_LENGTH} characters`, "idempotencyKey");
    }
    try {
      return await transactional(this.prisma, this.bus, (tx, emit) => this.place(tx, emit, viewer.userId, key));
    } catch (error) {
      // Two first uses of one key that both found no cart row to lock: the unique index decides.
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.prisma.order.findUnique({
        where: { userId_idempotencyKey: { userId: viewer.userId, idempotencyKey: key } },
        select: ORDER_ROW,
      });
      if (!existing) throw error;
      return existing;
    }
  }

  private async place(tx: Tx, emit: (e: Event) => void, userId: string, key: string): Promise<OrderRow> {
    // Locking the cart first serializes this user's checkouts: a retry waits, then finds the order.
    const lines = await this.carts.lockForCheckout(tx, userId);
    const hash = cartHash(lines);
    const existing = await tx.order.findUnique({
      where: { userId_idempotencyKey: { userId, idempotencyKey: key } },
      select: { ...ORDER_ROW, cartHash: true },
    });
    if (existing) {
      const { cartHash: placedWith, ...order } = existing;
      if (lines.length === 0 || placedWith === hash) return order;
      throw conflict("This idempotency key was already used to place an order from a different cart");
    }
    if (lines.length === 0) throw badInput("The cart is empty", "idempotencyKey");

    const products = await tx.product.findMany({
      where: { id: { in: lines.map((l) => l.productId) } },
      select: { id: true, name: true, priceCents: true, currency: true, status: true },
    });
    const byId = new Map(products.map((p) => [p.id, p]));
    let totalCents = 0;
    const currency = products[0]!.currency;
    for (const line of lines) {
      const product = byId.get(line.productId)!;
      if (product.status !== "ACTIVE") {
        throw badInput(`"${product.name}" is no longer for sale; remove it from the cart`, "idempotencyKey");
      }
      if (product.currency !== currency) throw badInput("The cart mixes currencies", "idempotencyKey");
      totalCents += product.priceCents * line.quantity;
    }
    if (totalCents > MAX_AMOUNT_CENTS) throw badInput("The order total is too large for one order", "idempotencyKey");

    const [{ seq }] = (await tx.$queryRaw<{ seq: number }[]>`
      SELECT nextval(pg_get_serial_sequence('orders', 'seq'))::int AS seq`) as [{ seq: number }];
    const order = await tx.order.create({
      data: {
        seq,
        number: orderNumber(seq),
        userId,
        totalCents,
        currency,
        idempotencyKey: key,
        cartHash: hash,
        items: {
          createMany: {
            data: lines.map((l) => {
              const p = byId.get(l.productId)!;
              return { productId: p.id, productName: p.name, unitPriceCents: p.priceCents, currency: p.currency, quantity: l.quantity };
            }),
          },
        },
      },
      select: ORDER_ROW,
    });
    // Lines are ordered by product id, so concurrent checkouts lock stock rows in one order (no deadlock).
    for (const line of lines) {
      const left = await this.inventory.move(
        tx,
        { productId: line.productId, delta: -line.quantity, reason: "SALE", orderId: order.id, actorId: userId },
        emit,
      );
      if (left === null) {
        const available = (await tx.stockLevel.findUnique({ where: { productId: line.productId } }))?.onHand ?? 0;
        const name = byId.get(line.productId)!.name;
        throw new AppError("INSUFFICIENT_STOCK", `Only ${available} of "${name}" in stock; the cart holds ${line.quantity}`, {
          productId: toGlobalId("Product", line.productId),
          available,
          requested: line.quantity,
        });
      }
    }
    await this.carts.empty(tx, userId, emit);
    await this.notifyOwner(tx, emit, order);
    for (const e of orderEvents(order, true)) emit(e);
    return order;
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
      if (!locked || !canReadOrder(viewer, locked)) throw notFound("Order");
      if (!canTransition(locked.status, to)) {
        throw badInput(`An order that is ${locked.status} cannot become ${to}`, "status");
      }
      const order = await tx.order.update({ where: { id: key }, data: { status: to, version: { increment: 1 } }, select: ORDER_ROW });
      if (to === "CANCELLED") {
        const items = await tx.orderItem.findMany({ where: { orderId: key }, orderBy: { productId: "asc" } });
        for (const item of items) {
          await tx.stockLevel.upsert({ where: { productId: item.productId }, create: { productId: item.productId, onHand: 0 }, update: {} });
          await this.inventory.move(
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
    const word = STATUS_WORDS[order.status];
    return this.notifications.notify(tx, emit, "ORDER_UPDATES", { userIds: [order.userId] }, {
      title: `Order ${order.number} ${word}`,
      body: `Your order ${order.number} has been ${word}.`,
      data: { orderId: toGlobalId("Order", order.id) },
    });
  }
}

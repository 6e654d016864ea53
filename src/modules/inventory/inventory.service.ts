import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { event, type Event } from "../../events/topics.ts";
import { AppError, badInput, notFound } from "../../graphql/errors.ts";
import type { StockMovementReason } from "../../generated/prisma/enums.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { findProduct, productFacts, productKey, type ProductRow } from "../catalog/index.ts";
import type { NotificationsService } from "../notifications/index.ts";
import type { AuditLog } from "../audit/index.ts";
import { unitsOnHand } from "./inventory.sql.ts";

export const MAX_ADJUSTMENT = 1_000_000;

export interface Movement {
  productId: string;
  delta: number;
  reason: StockMovementReason;
  orderId?: string | null;
  actorId?: string | null;
}

/**
 * Stock: a movement ledger plus the on-hand figure it sums to. Every change goes through `move`,
 * inside the caller's transaction, with a conditional update so stock never goes below zero.
 */
export class InventoryService {
  constructor(
    private readonly prisma: Prisma,
    private readonly bus: EventBus,
    private readonly notifications: NotificationsService,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Applies one movement in `tx`; returns the new on-hand figure, or null when it would go below zero
   * (nothing is written then). Emits STOCK_CHANGED, which is published after commit. Stock coming
   * back from zero notifies (in `tx`) those with the product in their cart who enabled BACK_IN_STOCK.
   */
  async move(tx: Tx, m: Movement, emit: (e: Event) => void): Promise<number | null> {
    const updated = await tx.stockLevel.updateManyAndReturn({
      where: { productId: m.productId, onHand: { gte: -m.delta } },
      data: { onHand: { increment: m.delta }, version: { increment: 1 } },
      select: { onHand: true, version: true },
    });
    if (!updated[0]) return null;
    await tx.stockMovement.create({
      data: { productId: m.productId, delta: m.delta, reason: m.reason, orderId: m.orderId ?? null, actorId: m.actorId ?? null },
    });
    const onHand = updated[0].onHand;
    emit(event("STOCK_CHANGED", m.productId, { productId: m.productId, stock: onHand, version: updated[0].version }));
    if (m.delta > 0 && onHand - m.delta <= 0) await this.backInStock(tx, m.productId, emit);
    return onHand;
  }

  /**
   * `move` for stock coming back (a cancelled order's lines): first gives the product a stock row
   * if it has none, so the movement always applies. Returns the new on-hand figure.
   */
  async restock(tx: Tx, m: Movement, emit: (e: Event) => void): Promise<number | null> {
    await this.ensureRow(tx, m.productId);
    return this.move(tx, m, emit);
  }

  private async ensureRow(tx: Tx, productId: string): Promise<void> {
    await tx.stockLevel.upsert({ where: { productId }, create: { productId, onHand: 0 }, update: {} });
  }

  /**
   * Takes the units of an order's lines in `tx`, in one statement: locks their stock rows in
   * product-id order (so concurrent checkouts cannot deadlock), decrements each that holds enough
   * (never below zero) with version +1, and writes each decrement's SALE movement. Emits
   * STOCK_CHANGED for each. Returns the first line (in product-id order) that could not be served,
   * or null when every line was: then the caller must throw so that the transaction rolls back,
   * since the other lines' stock was taken. Lines must be distinct products.
   *
   * Meant as the last statement of a checkout before the outbox write: a stock row stays locked
   * from here to the commit, and every checkout of that product waits for it.
   */
  async takeForOrder<L extends { productId: string; quantity: number }>(
    tx: Tx,
    lines: readonly L[],
    order: { orderId: string; actorId: string },
    emit: (e: Event) => void,
  ): Promise<L | null> {
    // Rows that look short in this statement's snapshot are not locked (nor waited for). The
    // conditions are checked again on the newest row version once it is locked.
    const taken = await tx.$queryRaw<{ productId: string; onHand: number; version: number }[]>`
      WITH wanted AS (
        SELECT * FROM unnest(${lines.map((l) => l.productId)}::uuid[], ${lines.map((l) => l.quantity)}::int[]) AS w(product_id, quantity)),
      locked AS MATERIALIZED (
        SELECT s.product_id FROM stock_levels s JOIN wanted w ON w.product_id = s.product_id
        WHERE s.on_hand >= w.quantity ORDER BY s.product_id FOR UPDATE OF s),
      taken AS (
        UPDATE stock_levels s SET on_hand = s.on_hand - w.quantity, version = s.version + 1, updated_at = now()
        FROM locked l JOIN wanted w ON w.product_id = l.product_id
        WHERE s.product_id = l.product_id AND s.on_hand >= w.quantity
        RETURNING s.product_id, s.on_hand, s.version, w.quantity),
      moved AS (
        INSERT INTO stock_movements (product_id, delta, reason, order_id, actor_id)
        SELECT product_id, -quantity, 'SALE', ${order.orderId}::uuid, ${order.actorId}::uuid FROM taken)
      SELECT product_id AS "productId", on_hand AS "onHand", version FROM taken ORDER BY product_id`;
    const left = new Map(taken.map((t) => [t.productId, t]));
    const short = [...lines].sort((a, b) => (a.productId < b.productId ? -1 : 1)).find((l) => !left.has(l.productId));
    if (short) return short;
    for (const t of taken) emit(event("STOCK_CHANGED", t.productId, { productId: t.productId, stock: t.onHand, version: t.version }));
    return null;
  }

  /** On-hand units of a product now (0 without a stock row). */
  onHand(productId: string): Promise<number> {
    return unitsOnHand(this.prisma, productId);
  }

  private async backInStock(tx: Tx, productId: string, emit: (e: Event) => void): Promise<void> {
    const product = await productFacts(tx, productId);
    if (product?.status !== "ACTIVE") return;
    await this.notifications.notify(tx, emit, "BACK_IN_STOCK", { cartHoldersOf: productId }, {
      title: `${product.name} is back in stock`,
      body: `${product.name}, in your cart, can be ordered again.`,
      data: { productId: toGlobalId("Product", productId) },
    });
  }

  /** Staff correction of stock by `delta` units (positive receives, negative removes); audited as stock.adjusted. */
  async adjustStock(viewer: Viewer, productId: string, delta: number): Promise<ProductRow> {
    const key = productKey(productId, "productId");
    if (!Number.isInteger(delta) || delta === 0 || Math.abs(delta) > MAX_ADJUSTMENT) {
      throw badInput(`delta must be a non-zero whole number of at most ${MAX_ADJUSTMENT} units`, "delta");
    }
    return transactional(this.prisma, this.bus, async (tx, emit) => {
      const product = await findProduct(tx, key);
      if (!product) throw notFound("Product");
      await this.ensureRow(tx, key);
      // Before the movement: a refused adjustment rolls the row back with everything else.
      await this.audit.record(tx, { action: "stock.adjusted", actor: viewer, target: toGlobalId("Product", key), details: { delta } });
      const onHand = await this.move(tx, { productId: key, delta, reason: "ADJUSTMENT", actorId: viewer.userId }, emit);
      if (onHand === null) {
        throw new AppError("INSUFFICIENT_STOCK", `Cannot remove ${-delta} units of "${product.name}": not that many in stock`, {
          productId: productId,
        });
      }
      return product;
    });
  }
}

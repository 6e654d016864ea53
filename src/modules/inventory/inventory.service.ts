import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { event, type Event } from "../../events/topics.ts";
import { AppError, badInput, notFound } from "../../graphql/errors.ts";
import type { StockMovementReason } from "../../generated/prisma/enums.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { productKey, type ProductRow } from "../catalog/index.ts";
import type { NotificationsService } from "../notifications/index.ts";

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

  private async backInStock(tx: Tx, productId: string, emit: (e: Event) => void): Promise<void> {
    const product = await tx.product.findUnique({ where: { id: productId }, select: { name: true, status: true } });
    if (product?.status !== "ACTIVE") return;
    await this.notifications.notify(tx, emit, "BACK_IN_STOCK", { cartHoldersOf: productId }, {
      title: `${product.name} is back in stock`,
      body: `${product.name}, in your cart, can be ordered again.`,
      data: { productId: toGlobalId("Product", productId) },
    });
  }

  /** Staff correction of stock by `delta` units (positive receives, negative removes). */
  async adjustStock(viewer: Viewer, productId: string, delta: number): Promise<ProductRow> {
    const key = productKey(productId, "productId");
    if (!Number.isInteger(delta) || delta === 0 || Math.abs(delta) > MAX_ADJUSTMENT) {
      throw badInput(`delta must be a non-zero whole number of at most ${MAX_ADJUSTMENT} units`, "delta");
    }
    return transactional(this.prisma, this.bus, async (tx, emit) => {
      const product = await tx.product.findUnique({ where: { id: key } });
      if (!product) throw notFound("Product");
      await tx.stockLevel.upsert({ where: { productId: key }, create: { productId: key, onHand: 0 }, update: {} });
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

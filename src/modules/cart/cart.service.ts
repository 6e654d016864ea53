import { sha256Hex } from "../../lib/hash.ts";
import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { event, type Event } from "../../events/topics.ts";
import { AppError, badInput, notFound } from "../../graphql/errors.ts";
import { Prisma as SQL } from "../../generated/prisma/client.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { otherCurrency, productFacts, productFactsSql, productKey, type ProductFacts } from "../catalog/index.ts";
import { onHandSql, unitsOnHand } from "../inventory/index.ts";
import type { CartLine, CartView } from "./cart.type.ts";

/** Most units of one product a cart line (and so an order line) may hold. */
export const MAX_LINE_QUANTITY = 99;
/** Most distinct products in one cart. */
export const MAX_LINES = 100;

/** What checkout needs of a line's product (the catalog's facts and the inventory's stock), read with the line. */
export interface CheckoutProduct extends ProductFacts {
  /** Units on hand as the same statement saw them (0 without a stock row): no lock, taking stock decides. */
  onHand: number;
}

export type CheckoutLine = CartLine & CheckoutProduct;

export interface TakenCart {
  /** Ordered by product id. */
  lines: CheckoutLine[];
  /** The cartUpdated event of the emptied cart; null when the user had no cart. */
  emptied: Event<"CART_UPDATED"> | null;
}

/** The cart changed while checkout waited for its lock: roll back and run again (see `takeForCheckout`). */
export class CartChangedError extends Error {
  constructor() {
    super("The cart changed while checkout waited for it");
    this.name = "CartChangedError";
  }
}

interface CartHead {
  id: string;
  version: number;
  updatedAt: Date;
}

/**
 * One cart per user. Every change runs in a transaction that first bumps the cart's version
 * (which also locks the row, so concurrent changes from several devices apply one after another)
 * and publishes the resulting cart to that user's CART_UPDATED topic after commit.
 *
 * Offline-first clients pass `expectedVersion`, the Cart.version their change was made against;
 * omitted (or null), the last writer wins.
 */
export class CartService {
  constructor(
    private readonly prisma: Prisma,
    private readonly bus: EventBus,
  ) {}

  async cart(viewer: Viewer): Promise<CartView> {
    const found = await this.read(this.prisma, viewer.userId);
    if (found) return found;
    await this.prisma.cart.createMany({ data: [{ userId: viewer.userId }], skipDuplicates: true });
    return (await this.read(this.prisma, viewer.userId))!;
  }

  /** Adds `quantity` units (1..99) of an ACTIVE product, within what is in stock. */
  addToCart(viewer: Viewer, productId: string, quantity: number, expectedVersion?: number | null): Promise<CartView> {
    const key = productKey(productId, "productId");
    validQuantity(quantity, 1);
    validExpectedVersion(expectedVersion);
    return this.change(viewer.userId, expectedVersion, async (tx, lines, cartId) => {
      const current = lines.find((l) => l.productId === key)?.quantity ?? 0;
      await this.put(tx, cartId, lines, key, current + quantity);
    });
  }

  /** Sets a line's quantity; 0 removes the line. Raising it is checked like adding. */
  setCartItemQuantity(viewer: Viewer, productId: string, quantity: number, expectedVersion?: number | null): Promise<CartView> {
    const key = productKey(productId, "productId");
    validQuantity(quantity, 0);
    validExpectedVersion(expectedVersion);
    return this.change(viewer.userId, expectedVersion, async (tx, lines, cartId) => {
      if (quantity === 0) {
        await tx.cartItem.deleteMany({ where: { cartId, productId: key } });
        return;
      }
      await this.put(tx, cartId, lines, key, quantity);
    });
  }

  clearCart(viewer: Viewer, expectedVersion?: number | null): Promise<CartView> {
    validExpectedVersion(expectedVersion);
    return this.change(viewer.userId, expectedVersion, async (tx, _lines, cartId) => {
      await tx.cartItem.deleteMany({ where: { cartId } });
    });
  }

  /**
   * For checkout, in its transaction, in one statement: bumps the user's cart (+1 version; the row
   * stays locked until commit, so a user's checkouts and cart changes run one after another),
   * deletes its lines and returns them ordered by product id, each with what checkout needs of
   * its product and its stock (the catalog's and the inventory's SQL, composed into this one
   * statement). `emptied` is the cartUpdated event of the now empty cart, for the caller to emit
   * once it keeps the change; a caller that does not must roll the transaction back. No cart: no
   * lines.
   *
   * One statement reads with one snapshot: if the lock had to wait for another transaction that
   * then committed a change to this cart (every change bumps the version first), the lines read
   * are older than the locked row, and this throws CartChangedError; the caller rolls back and
   * runs again on a fresh snapshot.
   */
  async takeForCheckout(tx: Tx, userId: string): Promise<TakenCart> {
    // A cart without lines still yields its one row (product columns null): the LEFT JOIN.
    const rows = await tx.$queryRaw<(CartHead & CheckoutProduct & { seen: number; productId: string | null; quantity: number })[]>`
      WITH seen AS (SELECT id, version FROM carts WHERE user_id = ${userId}::uuid),
      head AS (
        UPDATE carts c SET version = c.version + 1, updated_at = now() FROM seen WHERE c.id = seen.id
        RETURNING c.id, c.version, c.updated_at AS "updatedAt", seen.version AS seen),
      taken AS (DELETE FROM cart_items i USING head WHERE i.cart_id = head.id RETURNING i.product_id, i.quantity)
      SELECT head.*, t.product_id AS "productId", t.quantity, p.name, p."priceCents", p.currency, p.status,
             ${onHandSql(SQL.sql`t.product_id`)} AS "onHand"
      FROM head LEFT JOIN (taken t CROSS JOIN LATERAL (${productFactsSql(SQL.sql`t.product_id`)}) p) ON true
      ORDER BY t.product_id`;
    const head = rows[0];
    if (!head) return { lines: [], emptied: null };
    if (head.version !== head.seen + 1) throw new CartChangedError();
    const lines = rows.flatMap(({ productId, quantity, name, priceCents, currency, status, onHand }): CheckoutLine[] =>
      productId === null ? [] : [{ productId, quantity, name, priceCents, currency, status, onHand }],
    );
    return { lines, emptied: cartEvent({ id: head.id, version: head.version, updatedAt: head.updatedAt, userId, items: [] }) };
  }

  /** Sets one line to `quantity` (> 0); raising it requires an ACTIVE product, stock and room. */
  private async put(tx: Tx, cartId: string, lines: CartLine[], key: string, quantity: number): Promise<void> {
    const current = lines.find((l) => l.productId === key)?.quantity ?? 0;
    const product = await productFacts(tx, key);
    if (!product) throw notFound("Product");
    if (quantity > current) {
      if (product.status !== "ACTIVE") throw badInput(`"${product.name}" is not for sale`, "productId");
      if (quantity > MAX_LINE_QUANTITY) {
        throw badInput(`At most ${MAX_LINE_QUANTITY} units of "${product.name}" fit in one cart line`, "quantity");
      }
      const available = await unitsOnHand(tx, key);
      if (quantity > available) {
        throw new AppError("INSUFFICIENT_STOCK", `Only ${available} of "${product.name}" in stock; ${quantity} wanted`, {
          productId: toGlobalId("Product", key),
          available,
          requested: quantity,
        });
      }
    }
    if (current === 0) {
      if (lines.length >= MAX_LINES) throw badInput(`A cart holds at most ${MAX_LINES} different products`, "productId");
      const others = await otherCurrency(tx, lines.map((l) => l.productId), product.currency);
      if (others) throw badInput(`"${product.name}" is priced in ${product.currency}; this cart holds ${others} items`, "productId");
    }
    await tx.cartItem.upsert({
      where: { cartId_productId: { cartId, productId: key } },
      create: { cartId, productId: key, quantity },
      update: { quantity },
    });
  }

  /**
   * Bumps (creating if needed) the cart, applies `fn`, reads the result and emits it. With
   * `expectedVersion`, the version the cart had before this change (the bumped one minus one:
   * 0 for a cart created now) must equal it, compared under the row lock the bump took; otherwise
   * CONFLICT carrying the committed cart, and the rollback leaves no write and no event behind.
   * The check comes before `fn`, so a stale change is a CONFLICT even if it would also be refused.
   */
  private change(
    userId: string,
    expectedVersion: number | null | undefined,
    fn: (tx: Tx, lines: CartLine[], cartId: string) => Promise<void>,
  ): Promise<CartView> {
    return transactional(this.prisma, this.bus, async (tx, emit) => {
      const head = await this.bump(tx, userId);
      const before = await this.lines(tx, head.id);
      if (expectedVersion != null && head.version !== expectedVersion + 1) {
        throw staleCart(expectedVersion, head.version - 1, before);
      }
      await fn(tx, before, head.id);
      const view: CartView = { ...head, userId, items: await this.lines(tx, head.id) };
      emit(cartEvent(view));
      return view;
    });
  }

  /** +1 on the version, creating the cart on first use; locks the row until commit. */
  private async bump(tx: Tx, userId: string): Promise<CartHead> {
    const [head] = await tx.$queryRaw<CartHead[]>`
      INSERT INTO carts (user_id, version) VALUES (${userId}::uuid, 1)
      ON CONFLICT (user_id) DO UPDATE SET version = carts.version + 1, updated_at = now()
      RETURNING id, version, updated_at AS "updatedAt"`;
    return head!;
  }

  private lines(tx: Tx, cartId: string): Promise<CartLine[]> {
    return tx.cartItem.findMany({
      where: { cartId },
      orderBy: [{ addedAt: "asc" }, { productId: "asc" }],
      select: { productId: true, quantity: true },
    });
  }

  private async read(client: Tx | Prisma, userId: string): Promise<CartView | null> {
    const cart = await client.cart.findUnique({
      where: { userId },
      select: { id: true, version: true, updatedAt: true, items: { orderBy: [{ addedAt: "asc" }, { productId: "asc" }], select: { productId: true, quantity: true } } },
    });
    return cart && { id: cart.id, userId, version: cart.version, updatedAt: cart.updatedAt, items: cart.items };
  }
}

function validQuantity(quantity: number, min: number): void {
  if (!Number.isInteger(quantity) || quantity < min || quantity > MAX_LINE_QUANTITY) {
    throw badInput(`quantity must be a whole number from ${min} to ${MAX_LINE_QUANTITY}`, "quantity");
  }
}

function validExpectedVersion(expectedVersion: number | null | undefined): void {
  if (expectedVersion != null && (!Number.isInteger(expectedVersion) || expectedVersion < 0)) {
    throw badInput("expectedVersion must be a whole number, 0 or more (a Cart.version)", "expectedVersion");
  }
}

/** CONFLICT with the committed cart (ids global, as Cart exposes them), for the client to rebase on. */
function staleCart(expected: number, version: number, lines: readonly CartLine[]): AppError {
  return new AppError("CONFLICT", `The cart is at version ${version}, not ${expected}: apply the change to the current cart (extensions.cart)`, {
    cart: { version, items: lines.map((l) => ({ productId: toGlobalId("Product", l.productId), quantity: l.quantity })) },
  });
}

/**
 * The users with the product whose id is `productId` in their cart, as a query of one column,
 * for the notifications module's `cartHoldersOf` audience (modules/index.ts hands it over).
 */
export const cartHoldersSql = (productId: string): SQL.Sql =>
  SQL.sql`SELECT c.user_id FROM cart_items i JOIN carts c ON c.id = i.cart_id WHERE i.product_id = ${productId}::uuid`;

export function cartEvent(view: CartView): Event<"CART_UPDATED"> {
  return event("CART_UPDATED", view.userId, {
    cartId: view.id,
    userId: view.userId,
    version: view.version,
    updatedAt: view.updatedAt.toISOString(),
    items: view.items,
  });
}

/** Identifies a set of cart lines (order-independent): an idempotency key may only be replayed with it. */
export function cartHash(lines: readonly CartLine[]): string {
  const canonical = [...lines].sort((a, b) => a.productId.localeCompare(b.productId)).map((l) => `${l.productId}:${l.quantity}`);
  return sha256Hex(canonical.join(","));
}

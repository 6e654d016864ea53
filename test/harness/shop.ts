// Shopping helpers for tests that run checkouts against one server: products with exact stock,
// carts, checkout, and the stock ledger read straight from the database.
import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import { CartDocument, type CartLinesFragment } from "../generated/graphql.ts";
import * as fixtures from "./fixtures.ts";
import type { TestProduct } from "./fixtures.ts";
import { ok, request } from "./http.ts";
import { signUp } from "./index.ts";

export type { TestProduct } from "./fixtures.ts";
export { codeOf } from "./http.ts";

export interface Ledger {
  /** Sum of all movements. */
  total: number;
  /** Sum of SALE movements. */
  sales: number;
  saleRows: number;
  /** stock_levels.on_hand (null without a row). */
  onHand: number | null;
}

/** The shared fixtures bound to `server` (read lazily: it is set in beforeAll) and a staff token. */
export function shop(server: { app: App }, staff: () => string) {
  const url = () => server.app.url;

  /** A fresh product (unique slug) with exactly `stock` units on hand. */
  const newProduct = (stock: number, priceCents = 1_250, status: "ACTIVE" | "DRAFT" = "ACTIVE"): Promise<TestProduct> =>
    fixtures.newProduct(url(), staff(), { stock, priceCents, status, label: "checkout" });

  const addToCart = (token: string, productId: string, quantity: number) => fixtures.addToCart(url(), token, productId, quantity);

  const setQuantity = (token: string, productId: string, quantity: number) => fixtures.setCartItemQuantity(url(), token, productId, quantity);

  async function cartOf(token: string): Promise<CartLinesFragment> {
    return ok(await request(url(), CartDocument, {}, token)).cart;
  }

  const checkout = (token: string, key: string) => fixtures.checkout(url(), token, key);

  const stockOf = (productId: string): Promise<number> => fixtures.stockOf(url(), productId);

/** The ledger of one product, from the database. */
  async function ledger(key: string): Promise<Ledger> {
    const [row] = await server.app.db.sql.query(
      `SELECT coalesce(sum(m.delta), 0)::int AS total,
              coalesce(sum(m.delta) FILTER (WHERE m.reason = 'SALE'), 0)::int AS sales,
              count(*) FILTER (WHERE m.reason = 'SALE')::int AS "saleRows",
              (SELECT on_hand FROM stock_levels WHERE product_id = $1::uuid) AS "onHand"
       FROM stock_movements m WHERE m.product_id = $1::uuid`,
      [key],
    );
    return row as unknown as Ledger;
  }

  /** `n` fresh customers, each with `lines` in their cart (added in this order). */
  async function shoppers(n: number, lines: [TestProduct, number][]): Promise<string[]> {
    const tokens = await Promise.all(Array.from({ length: n }, () => signUp(url()).then((u) => u.token)));
    for (const token of tokens) {
      for (const [product, quantity] of lines) expect((await addToCart(token, product.id, quantity)).errors).toBeUndefined();
    }
    return tokens;
  }

  return { newProduct, addToCart, setQuantity, cartOf, checkout, stockOf, ledger, shoppers };
}

// Shopping helpers for tests that run checkouts against one server: products with exact stock,
// carts, checkout, and the stock ledger read straight from the database.
import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { gql, signUp, type GqlResponse } from "./index.ts";

export const CART_FIELDS = `id version itemCount items { quantity product { id } } subtotal { amountCents }`;
export const ORDER_FIELDS = `id number status total { amountCents } items { quantity unitPrice { amountCents } product { id stock } }`;

export interface TestProduct {
  id: string;
  key: string;
  name: string;
}

export interface Ledger {
  /** Sum of all movements. */
  total: number;
  /** Sum of SALE movements. */
  sales: number;
  saleRows: number;
  /** stock_levels.on_hand (null without a row). */
  onHand: number | null;
}

export function codeOf(res: GqlResponse): string | undefined {
  return res.errors?.[0]?.extensions.code;
}

/** Helpers bound to `server` (read lazily: it is set in beforeAll) and a staff token. */
export function shop(server: { app: App }, staff: () => string) {
  const url = () => server.app.url;
  let categoryId: string | undefined;

  /** A fresh product (unique slug) with exactly `stock` units on hand. */
  async function newProduct(stock: number, priceCents = 1_250, status: "ACTIVE" | "DRAFT" = "ACTIVE"): Promise<TestProduct> {
    categoryId ??= (await gql(url(), `{ categories { id } }`)).data.categories[0].id as string;
    const slug = `checkout-${randomUUID().slice(0, 12)}`;
    const name = `Checkout Widget ${slug.slice(-12)}`;
    const created = await gql(
      url(),
      `mutation($input: ProductInput!) { createProduct(input: $input) { id name } }`,
      { input: { slug, name, description: "made by a checkout test", priceCents, categoryId, status } },
      staff(),
    );
    expect(created.errors).toBeUndefined();
    const id = created.data.createProduct.id as string;
    if (stock > 0) {
      const adjusted = await gql(url(), `mutation($p: ID!, $d: Int!) { adjustStock(productId: $p, delta: $d) { stock } }`, { p: id, d: stock }, staff());
      expect(adjusted.errors).toBeUndefined();
      expect(adjusted.data.adjustStock.stock).toBe(stock);
    }
    return { id, key: keyOf(id, "Product")!, name };
  }

  const addToCart = (token: string, productId: string, quantity: number) =>
    gql(url(), `mutation($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { ${CART_FIELDS} } }`, { p: productId, q: quantity }, token);

  const setQuantity = (token: string, productId: string, quantity: number) =>
    gql(url(), `mutation($p: ID!, $q: Int!) { setCartItemQuantity(productId: $p, quantity: $q) { ${CART_FIELDS} } }`, { p: productId, q: quantity }, token);

  async function cartOf(token: string): Promise<any> {
    const res = await gql(url(), `{ cart { ${CART_FIELDS} } }`, {}, token);
    expect(res.errors).toBeUndefined();
    return res.data.cart;
  }

  const checkout = (token: string, key: string) =>
    gql(url(), `mutation($k: String!) { checkout(idempotencyKey: $k) { ${ORDER_FIELDS} } }`, { k: key }, token);

  async function stockOf(productId: string): Promise<number> {
    return (await gql(url(), `query($id: ID!) { product(id: $id) { stock } }`, { id: productId })).data.product.stock;
  }

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

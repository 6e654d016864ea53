// Shared fixtures: the products, carts and orders tests build on, typed by test/operations/fixtures.graphql.
// Each takes the server's /graphql URL; those that change the catalog take a STAFF token.
import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { keyOf } from "../../src/lib/ids.ts";
import {
  AddToCartDocument,
  AdjustStockDocument,
  CancelOrderDocument,
  CategoryIdsDocument,
  CheckoutDocument,
  CreateProductDocument,
  ProductStockDocument,
  SetCartItemQuantityDocument,
  SetOrderStatusDocument,
  UpdateProductPriceDocument,
  type OrderStatus,
  type ProductStatus,
} from "../generated/graphql.ts";
import { ok, request } from "./http.ts";

export interface TestProduct {
  /** Global id. */
  id: string;
  /** Database key (uuid). */
  key: string;
  name: string;
}

const categories = new Map<string, Promise<string[]>>();

/** The ids of the categories (read once per server). */
export function categoryIds(url: string): Promise<string[]> {
  let ids = categories.get(url);
  if (!ids) {
    ids = request(url, CategoryIdsDocument).then((res) => ok(res).categories.map((c) => c.id));
    categories.set(url, ids);
  }
  return ids;
}

export interface NewProductOptions {
  /** Units on hand (default 0: no stock movement). */
  stock?: number;
  /** Default 1,250. */
  priceCents?: number;
  /** Default ACTIVE. */
  status?: ProductStatus;
  /** Index into the categories, wrapping around (default 0). */
  category?: number;
  /** Starts the slug and says who made it (default "test"). */
  label?: string;
}

/** A fresh product (unique slug and name) with exactly `stock` units on hand; fails the test when the server refuses. */
export async function newProduct(url: string, staff: string, options: NewProductOptions = {}): Promise<TestProduct> {
  const { stock = 0, priceCents = 1_250, status = "ACTIVE", category = 0, label = "test" } = options;
  const ids = await categoryIds(url);
  const slug = `${label}-${randomUUID().slice(0, 12)}`;
  const input = {
    slug,
    name: `Test Product ${slug.slice(-12)}`,
    description: `made by ${label} tests`,
    priceCents,
    categoryId: ids[category % ids.length]!,
    status,
  };
  const { createProduct } = ok(await request(url, CreateProductDocument, { input }, staff));
  if (stock > 0) expect(await adjustStock(url, staff, createProduct.id, stock)).toBe(stock);
  return { id: createProduct.id, key: keyOf(createProduct.id, "Product")!, name: createProduct.name };
}

/** Moves stock by `delta`; the new stock. */
export async function adjustStock(url: string, staff: string, productId: string, delta: number): Promise<number> {
  return ok(await request(url, AdjustStockDocument, { productId, delta }, staff)).adjustStock.stock;
}

export async function setPrice(url: string, staff: string, id: string, priceCents: number): Promise<void> {
  ok(await request(url, UpdateProductPriceDocument, { id, priceCents }, staff));
}

export async function stockOf(url: string, id: string): Promise<number> {
  return ok(await request(url, ProductStockDocument, { id })).product!.stock;
}

/** The response as it is (errors included): tests of refusals read them. */
export const addToCart = (url: string, token: string, productId: string, quantity = 1, expectedVersion?: number | null) =>
  request(url, AddToCartDocument, { productId, quantity, expectedVersion }, token);

export const setCartItemQuantity = (url: string, token: string, productId: string, quantity: number, expectedVersion?: number | null) =>
  request(url, SetCartItemQuantityDocument, { productId, quantity, expectedVersion }, token);

/** Checks out with `idempotencyKey` (default: a fresh one); the response as it is. */
export const checkout = (url: string, token: string, idempotencyKey: string = randomUUID()) =>
  request(url, CheckoutDocument, { idempotencyKey }, token);

export const setOrderStatus = (url: string, token: string, id: string, status: OrderStatus) =>
  request(url, SetOrderStatusDocument, { id, status }, token);

export const cancelOrder = (url: string, token: string, id: string) => request(url, CancelOrderDocument, { id }, token);

/** Puts `lines` in the cart of `token` and checks out; the order (fails the test on any error). */
export async function placeOrder(url: string, token: string, lines: [productId: string, quantity: number][]) {
  for (const [productId, quantity] of lines) ok(await addToCart(url, token, productId, quantity));
  return ok(await checkout(url, token)).checkout;
}

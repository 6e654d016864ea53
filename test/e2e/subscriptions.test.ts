import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import {
  AdjustStockDocument,
  FirstInStockProductDocument,
  ProductUpdatedPriceDocument,
  ProductUpdatedStatusDocument,
  StockChangedWithNameDocument,
  UpdateProductDocument,
  type ProductPatch,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, codeOf, logIn, nextWithin, ok, request, subscribe, useInstancePair, waitForSubscribers, wsClient } from "../harness/index.ts";
import type { Client } from "graphql-ws";

// Two instances: same database, same Redis prefix, same signing key (shared DATA_DIR).
const pair = useInstancePair();

const stockEvents = (client: Client, id: string) => subscribe(client, StockChangedWithNameDocument, { productIds: [id] });

async function someProduct(app: App) {
  return ok(await request(app.url, FirstInStockProductDocument)).products.edges[0]!.node;
}

const adjust = (app: App, token: string, productId: string, delta: number) => fixtures.adjustStock(app.url, token, productId, delta);

const update = (app: App, token: string, id: string, patch: ProductPatch) => request(app.url, UpdateProductDocument, { id, patch }, token);

describe("subscriptions over a real WebSocket", () => {
  it("stockChanged delivers each adjustStock, read through fresh loaders per event", async () => {
    const product = await someProduct(pair.a);
    const staff = await logIn(pair.a.url, DEMO.staff);
    const client = wsClient(pair.a.wsUrl);
    const events = stockEvents(client, product.id);
    try {
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${keyOf(product.id, "Product")}`);
      expect(await adjust(pair.a, staff, product.id, 3)).toBe(product.stock + 3);
      const first = (await nextWithin(events)).data?.stockChanged;
      expect(first).toEqual({ stock: product.stock + 3, inStock: true, product: { id: product.id, name: product.name, stock: product.stock + 3 } });
      await adjust(pair.a, staff, product.id, -2);
      const second = (await nextWithin(events)).data!.stockChanged;
      // A stale per-subscription loader would still say stock + 3 here.
      expect(second.stock).toBe(product.stock + 1);
      expect(second.product.stock).toBe(product.stock + 1);
    } finally {
      await events.return?.();
      await client.dispose();
    }
  });

  it("a subscriber on instance A receives the event of a mutation on instance B", async () => {
    const product = await someProduct(pair.a);
    const staff = await logIn(pair.b.url, DEMO.staff);
    const client = wsClient(pair.a.wsUrl);
    const stock = stockEvents(client, product.id);
    const updated = subscribe(client, ProductUpdatedPriceDocument, { id: product.id });
    try {
      const key = keyOf(product.id, "Product");
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${key}`);
      await waitForSubscribers(`${pair.prefix}PRODUCT_UPDATED:${key}`);
      const after = await adjust(pair.b, staff, product.id, 5);
      expect((await nextWithin(stock)).data?.stockChanged.stock).toBe(after);
      const rename = await update(pair.b, staff, product.id, { name: "Renamed on B", priceCents: 4242 });
      expect(rename.errors).toBeUndefined();
      expect((await nextWithin(updated)).data?.productUpdated).toEqual({ id: product.id, name: "Renamed on B", price: { amountCents: 4242 } });
    } finally {
      await stock.return?.();
      await updated.return?.();
      await client.dispose();
    }
  });

  it("removing more stock than there is fails with INSUFFICIENT_STOCK and changes nothing", async () => {
    const product = await someProduct(pair.a);
    const staff = await logIn(pair.a.url, DEMO.staff);
    const res = await request(pair.a.url, AdjustStockDocument, { productId: product.id, delta: -(product.stock + 1) }, staff);
    expect(codeOf(res)).toBe("INSUFFICIENT_STOCK");
    expect(res.errors?.[0]?.message).toContain(product.name);
    expect(await fixtures.stockOf(pair.a.url, product.id)).toBe(product.stock);
    const ledger = await pair.a.db.prisma.stockMovement.aggregate({ where: { productId: keyOf(product.id, "Product")! }, _sum: { delta: true } });
    expect(ledger._sum.delta).toBe(product.stock);
  });

  it("connection_init with an invalid token is closed with 4403", async () => {
    const code = await new Promise<number>((resolve) => {
      const client = wsClient(pair.a.wsUrl, "invalid.token.here", resolve);
      setTimeout(() => client.dispose(), 5_000).unref();
    });
    expect(code).toBe(4403);
  });

  it("@auth guards operations sent over the WebSocket too (anonymous socket -> UNAUTHENTICATED)", async () => {
    const client = wsClient(pair.a.wsUrl);
    try {
      const result = await nextWithin(subscribe(client, AdjustStockDocument, { productId: "x", delta: 1 }));
      expect(codeOf(result)).toBe("UNAUTHENTICATED");
    } finally {
      await client.dispose();
    }
  });
  it("events of a DRAFT product reach staff but not anonymous watchers, until it is ACTIVE", async () => {
    const staff = await logIn(pair.a.url, DEMO.staff);
    const { id } = await fixtures.newProduct(pair.a.url, staff, { status: "DRAFT", priceCents: 100, label: "draft" });
    const anonymous = wsClient(pair.a.wsUrl);
    const staffWs = wsClient(pair.b.wsUrl, staff);
    const anonStock = stockEvents(anonymous, id);
    const anonProduct = subscribe(anonymous, ProductUpdatedStatusDocument, { id });
    const staffStock = stockEvents(staffWs, id);
    try {
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${keyOf(id, "Product")}`, 2);
      await waitForSubscribers(`${pair.prefix}PRODUCT_UPDATED:${keyOf(id, "Product")}`, 1);
      await adjust(pair.a, staff, id, 3);
      expect((await nextWithin(staffStock)).data?.stockChanged.stock).toBe(3);
      const renamed = await update(pair.a, staff, id, { name: "Still Secret" });
      expect(renamed.errors).toBeUndefined();
      // Released: from now on anonymous watchers hear of it. Their first events are these, so the
      // draft's stock change and rename above were never delivered to them.
      await update(pair.a, staff, id, { status: "ACTIVE", name: "Now Public" });
      expect((await nextWithin(anonProduct)).data?.productUpdated).toEqual({ name: "Now Public", status: "ACTIVE" });
      await adjust(pair.a, staff, id, 1);
      expect((await nextWithin(anonStock)).data?.stockChanged.stock).toBe(4);
    } finally {
      await anonStock.return?.();
      await anonProduct.return?.();
      await staffStock.return?.();
      await anonymous.dispose();
      await staffWs.dispose();
    }
  });
});

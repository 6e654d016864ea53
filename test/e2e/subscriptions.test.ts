import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import {
  DEMO,
  gql,
  logIn,
  useInstancePair,
  nextWithin,
  waitForSubscribers,
  wsClient,
} from "../harness/index.ts";

// Two instances: same database, same Redis prefix, same signing key (shared DATA_DIR).
const pair = useInstancePair();

const STOCK = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { stock inStock product { id name stock } } }`;

async function someProduct(app: App) {
  return (await gql(app.url, `{ products(first: 1, filter: { inStock: true }) { edges { node { id name stock } } } }`)).data.products.edges[0].node as {
    id: string;
    name: string;
    stock: number;
  };
}

async function adjust(app: App, token: string, productId: string, delta: number) {
  const res = await gql(app.url, `mutation($p: ID!, $d: Int!) { adjustStock(productId: $p, delta: $d) { id stock } }`, { p: productId, d: delta }, token);
  expect(res.errors).toBeUndefined();
  return res.data.adjustStock.stock as number;
}

describe("subscriptions over a real WebSocket", () => {
  it("stockChanged delivers each adjustStock, read through fresh loaders per event", async () => {
    const product = await someProduct(pair.a);
    const staff = await logIn(pair.a.url, DEMO.staff);
    const client = wsClient(pair.a.wsUrl);
    const events = client.iterate<any>({ query: STOCK, variables: { ids: [product.id] } });
    try {
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${keyOf(product.id, "Product")}`);
      expect(await adjust(pair.a, staff, product.id, 3)).toBe(product.stock + 3);
      const first = (await nextWithin(events)).data.stockChanged;
      expect(first).toEqual({ stock: product.stock + 3, inStock: true, product: { id: product.id, name: product.name, stock: product.stock + 3 } });
      await adjust(pair.a, staff, product.id, -2);
      const second = (await nextWithin(events)).data.stockChanged;
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
    const stock = client.iterate<any>({ query: STOCK, variables: { ids: [product.id] } });
    const updated = client.iterate<any>({ query: `subscription($id: ID!) { productUpdated(id: $id) { id name price { amountCents } } }`, variables: { id: product.id } });
    try {
      const key = keyOf(product.id, "Product");
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${key}`);
      await waitForSubscribers(`${pair.prefix}PRODUCT_UPDATED:${key}`);
      const after = await adjust(pair.b, staff, product.id, 5);
      expect((await nextWithin(stock)).data.stockChanged.stock).toBe(after);
      const rename = await gql(pair.b.url, `mutation($id: ID!) { updateProduct(id: $id, patch: { name: "Renamed on B", priceCents: 4242 }) { id } }`, { id: product.id }, staff);
      expect(rename.errors).toBeUndefined();
      expect((await nextWithin(updated)).data.productUpdated).toEqual({ id: product.id, name: "Renamed on B", price: { amountCents: 4242 } });
    } finally {
      await stock.return?.();
      await updated.return?.();
      await client.dispose();
    }
  });

  it("removing more stock than there is fails with INSUFFICIENT_STOCK and changes nothing", async () => {
    const product = await someProduct(pair.a);
    const staff = await logIn(pair.a.url, DEMO.staff);
    const res = await gql(pair.a.url, `mutation($p: ID!, $d: Int!) { adjustStock(productId: $p, delta: $d) { id } }`, { p: product.id, d: -(product.stock + 1) }, staff);
    expect(res.errors?.[0]?.extensions.code).toBe("INSUFFICIENT_STOCK");
    expect(res.errors?.[0]?.message).toContain(product.name);
    expect((await gql(pair.a.url, `query($id: ID!) { product(id: $id) { stock } }`, { id: product.id })).data.product.stock).toBe(product.stock);
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
      const result = await nextWithin(client.iterate<any>({ query: `mutation { adjustStock(productId: "x", delta: 1) { id } }` }));
      expect(result.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    } finally {
      await client.dispose();
    }
  });
  it("events of a DRAFT product reach staff but not anonymous watchers, until it is ACTIVE", async () => {
    const staff = await logIn(pair.a.url, DEMO.staff);
    const categoryId = (await gql(pair.a.url, `{ categories { id } }`)).data.categories[0].id;
    const created = await gql(
      pair.a.url,
      `mutation($i: ProductInput!) { createProduct(input: $i) { id } }`,
      { i: { slug: `draft-${Date.now().toString(36)}`, name: "Secret Draft", description: "unreleased", priceCents: 100, categoryId, status: "DRAFT" } },
      staff,
    );
    const id = created.data.createProduct.id as string;
    const anonymous = wsClient(pair.a.wsUrl);
    const staffWs = wsClient(pair.b.wsUrl, staff);
    const anonStock = anonymous.iterate({ query: STOCK, variables: { ids: [id] } });
    const anonProduct = anonymous.iterate({ query: `subscription($id: ID!) { productUpdated(id: $id) { name status } }`, variables: { id } });
    const staffStock = staffWs.iterate({ query: STOCK, variables: { ids: [id] } });
    try {
      await waitForSubscribers(`${pair.prefix}STOCK_CHANGED:${keyOf(id, "Product")}`, 2);
      await waitForSubscribers(`${pair.prefix}PRODUCT_UPDATED:${keyOf(id, "Product")}`, 1);
      await adjust(pair.a, staff, id, 3);
      expect(((await nextWithin(staffStock)) as any).data.stockChanged.stock).toBe(3);
      const renamed = await gql(pair.a.url, `mutation($id: ID!) { updateProduct(id: $id, patch: { name: "Still Secret" }) { name } }`, { id }, staff);
      expect(renamed.errors).toBeUndefined();
      // Released: from now on anonymous watchers hear of it. Their first events are these, so the
      // draft's stock change and rename above were never delivered to them.
      await gql(pair.a.url, `mutation($id: ID!) { updateProduct(id: $id, patch: { status: ACTIVE, name: "Now Public" }) { id } }`, { id }, staff);
      expect(((await nextWithin(anonProduct)) as any).data.productUpdated).toEqual({ name: "Now Public", status: "ACTIVE" });
      await adjust(pair.a, staff, id, 1);
      expect(((await nextWithin(anonStock)) as any).data.stockChanged.stock).toBe(4);
    } finally {
      await anonStock.return?.();
      await anonProduct.return?.();
      await staffStock.return?.();
      await anonymous.dispose();
      await staffWs.dispose();
    }
  });
});

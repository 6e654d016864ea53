import { randomUUID } from "node:crypto";
import type { Client } from "graphql-ws";
import { describe, expect, it } from "vitest";
import { keyOf, toGlobalId } from "../../src/lib/ids.ts";
import {
  DEMO,
  gql,
  logIn,
  nextWithin,
  signUp,
  useInstancePair,
  someProducts,
  waitForSubscribers,
  wsClient,
} from "../harness/index.ts";

// Two instances on one database, one Redis prefix and one signing key (shared DATA_DIR).
// Single-instance tests use A; B is there for the cross-instance test and to make two
// subscriptions of one user observable in Redis (one instance SUBSCRIBEs a channel only once).
const pair = useInstancePair();

const PASSWORD = "correct horse battery";
const CART = `id version itemCount items { quantity product { id } }`;
const ORDER = `id number status`;
const CART_UPDATED = `subscription { cartUpdated { ${CART} } }`;
const ORDER_UPDATED = `subscription($id: ID) { orderUpdated(id: $id) { ${ORDER} } }`;
const ORDER_PLACED = `subscription { orderPlaced { ${ORDER} total { amountCents } } }`;
const STOCK_CHANGED = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { stock inStock product { id stock } } }`;
const NOTIFICATION = `subscription { notificationReceived { id category title body readAt } }`;

const channel = (topic: string, id: string) => `${pair.prefix}${topic}:${id}`;
const userKey = (id: string) => keyOf(id, "User")!;

/** Runs a mutation/query and insists it succeeded. */
async function ok(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<any> {
  const res = await gql(url, query, variables, token);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data;
}

async function addToCart(url: string, token: string, productId: string, quantity: number) {
  return (await ok(url, `mutation($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { ${CART} } }`, { p: productId, q: quantity }, token)).addToCart;
}

async function checkout(url: string, token: string) {
  return (await ok(url, `mutation($k: String!) { checkout(idempotencyKey: $k) { ${ORDER} } }`, { k: randomUUID() }, token)).checkout;
}

async function setStatus(url: string, token: string, id: string, status: string) {
  return (await ok(url, `mutation($id: ID!, $s: OrderStatus!) { setOrderStatus(id: $id, status: $s) { ${ORDER} } }`, { id, s: status }, token)).setOrderStatus;
}

async function stockOf(url: string, productId: string): Promise<number> {
  return (await ok(url, `query($id: ID!) { product(id: $id) { stock } }`, { id: productId })).product.stock;
}

/** The error a subscription is refused with (sent as a `next` with errors, or as an `error` message). */
async function refusal(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const events = client.iterate<any>({ query, variables });
  try {
    const result = await nextWithin(events);
    expect(result.data ?? null, "the subscription must be refused, not delivered").toBeNull();
    return result.errors?.[0] as { message: string; extensions?: { code?: string } } | undefined;
  } catch (error) {
    if (Array.isArray(error)) return error[0] as { message: string; extensions?: { code?: string } };
    throw error;
  } finally {
    await events.return?.();
  }
}

/** Disposes iterators and clients, whatever happened. */
async function closeAll(iterators: AsyncIterator<unknown>[], clients: Client[]) {
  await Promise.all(iterators.map((i) => i.return?.()));
  await Promise.all(clients.map((c) => c.dispose()));
}

describe("live shopping over WebSocket", () => {
  it("cartUpdated: every session of the user sees each change in version order; another user sees none of it", async () => {
    const [p1, p2] = await someProducts(pair.a.url, 2);
    const u = await signUp(pair.a.url, "Cart Owner");
    const session2 = await logIn(pair.a.url, { email: u.email, password: PASSWORD });
    const session3 = await logIn(pair.a.url, { email: u.email, password: PASSWORD });
    const v = await signUp(pair.a.url, "Someone Else");
    // Sessions 2 and 3 on different instances: each instance's Redis SUBSCRIBE then proves its
    // subscription is live before the mutation (two on one instance share one SUBSCRIBE).
    const c2 = wsClient(pair.a.wsUrl, session2);
    const c3 = wsClient(pair.b.wsUrl, session3);
    const cv = wsClient(pair.a.wsUrl, v.token);
    const it2 = c2.iterate<any>({ query: CART_UPDATED });
    const it3 = c3.iterate<any>({ query: CART_UPDATED });
    const itV = cv.iterate<any>({ query: CART_UPDATED });
    try {
      await waitForSubscribers(channel("CART_UPDATED", userKey(u.userId)), 2);
      await waitForSubscribers(channel("CART_UPDATED", userKey(v.userId)), 1);
      let vReceived: unknown = undefined;
      const vFirst = nextWithin(itV, 10_000).then((event) => (vReceived = event));

      const added = await addToCart(pair.a.url, u.token, p1!.id, 1);
      expect(added).toMatchObject({ version: 1, itemCount: 1, items: [{ quantity: 1, product: { id: p1!.id } }] });
      const changed = (
        await ok(pair.a.url, `mutation($p: ID!) { setCartItemQuantity(productId: $p, quantity: 3) { ${CART} } }`, { p: p1!.id }, u.token)
      ).setCartItemQuantity;
      expect(changed).toEqual({ id: added.id, version: 2, itemCount: 3, items: [{ quantity: 3, product: { id: p1!.id } }] });

      for (const events of [it2, it3]) {
        expect((await nextWithin(events)).data.cartUpdated).toEqual(added);
        expect((await nextWithin(events)).data.cartUpdated).toEqual(changed);
      }
      // Both of U's events have reached U's clients; V has been told nothing so far.
      expect(vReceived).toBeUndefined();
      // V's own change is V's first event: had V been given U's events, they would come first.
      const vCart = await addToCart(pair.a.url, v.token, p2!.id, 2);
      expect(vCart).toMatchObject({ version: 1, itemCount: 2 });
      expect(vCart.id).not.toBe(added.id);
      expect((await vFirst as any).data.cartUpdated).toEqual(vCart);
    } finally {
      await closeAll([it2, it3, itV], [c2, c3, cv]);
    }
  });

  it("orders: orderPlaced for staff only, orderUpdated(id) per status change for the owner, NOT_FOUND for others", async () => {
    const [product] = await someProducts(pair.a.url, 1);
    const owner = await signUp(pair.a.url, "Order Owner");
    const other = await signUp(pair.a.url, "Other Customer");
    const staff = await logIn(pair.a.url, DEMO.staff);
    const staffWs = wsClient(pair.a.wsUrl, staff);
    const ownerWs = wsClient(pair.a.wsUrl, owner.token);
    const otherWs = wsClient(pair.a.wsUrl, other.token);
    const placed = staffWs.iterate<any>({ query: ORDER_PLACED });
    let updates: AsyncIterator<any> | undefined;
    try {
      // A customer may not watch new orders.
      const forbidden = await refusal(otherWs, ORDER_PLACED);
      expect(forbidden?.extensions?.code).toBe("FORBIDDEN");

      await waitForSubscribers(channel("ORDER_PLACED", "all"), 1);
      await addToCart(pair.a.url, owner.token, product!.id, 2);
      const order = await checkout(pair.a.url, owner.token);
      expect(order.status).toBe("PLACED");
      const placedEvent = (await nextWithin(placed)).data.orderPlaced;
      expect(placedEvent).toEqual({ ...order, total: { amountCents: 2 * product!.priceCents } });

      // Someone else's order looks exactly like one that does not exist.
      const fake = toGlobalId("Order", randomUUID());
      const otherRead = await gql(pair.a.url, `query($id: ID!) { order(id: $id) { id } }`, { id: order.id }, other.token);
      expect(otherRead.errors).toBeUndefined();
      expect(otherRead.data.order).toBeNull();
      expect((await gql(pair.a.url, `query($id: ID!) { order(id: $id) { id } }`, { id: fake }, other.token)).data.order).toBeNull();
      const notMine = await refusal(otherWs, ORDER_UPDATED, { id: order.id });
      const missing = await refusal(otherWs, ORDER_UPDATED, { id: fake });
      expect(notMine?.extensions?.code).toBe("NOT_FOUND");
      expect(missing?.extensions?.code).toBe("NOT_FOUND");
      expect(notMine?.message).toBe(missing?.message);

      updates = ownerWs.iterate<any>({ query: ORDER_UPDATED, variables: { id: order.id } });
      await waitForSubscribers(channel("ORDER_UPDATED", keyOf(order.id, "Order")!), 1);
      const steps = ["PAID", "SHIPPED", "DELIVERED"];
      for (const status of steps) expect((await setStatus(pair.a.url, staff, order.id, status)).status).toBe(status);
      // One event per change, in order: a duplicate or a missing event shifts what follows.
      for (const status of steps) {
        expect((await nextWithin(updates)).data.orderUpdated).toEqual({ id: order.id, number: order.number, status });
      }
    } finally {
      await closeAll([placed, ...(updates ? [updates] : [])], [staffWs, ownerWs, otherWs]);
    }
  });

  it("cancelOrder returns the stock, announced on stockChanged, and the owner's orderUpdated says CANCELLED", async () => {
    const staff = await logIn(pair.a.url, DEMO.staff);
    const categoryId = (await ok(pair.a.url, `{ categories { id } }`, {})).categories[0].id;
    const slug = `live-cancel-${randomUUID().slice(0, 8)}`;
    const product = (
      await ok(
        pair.a.url,
        `mutation($input: ProductInput!) { createProduct(input: $input) { id } }`,
        { input: { slug, name: `Cancel test ${slug}`, description: "For the cancel test", priceCents: 1250, categoryId } },
        staff,
      )
    ).createProduct;
    const before = (await ok(pair.a.url, `mutation($p: ID!) { adjustStock(productId: $p, delta: 5) { stock } }`, { p: product.id }, staff)).adjustStock.stock;
    expect(before).toBe(5);
    const owner = await signUp(pair.a.url, "Cancelling Customer");
    const watcher = wsClient(pair.a.wsUrl);
    const ownerWs = wsClient(pair.a.wsUrl, owner.token);
    const stock = watcher.iterate<any>({ query: STOCK_CHANGED, variables: { ids: [product.id] } });
    const orders = ownerWs.iterate<any>({ query: ORDER_UPDATED, variables: {} });
    try {
      await waitForSubscribers(channel("STOCK_CHANGED", keyOf(product.id, "Product")!), 1);
      await waitForSubscribers(channel("USER_ORDER_UPDATED", userKey(owner.userId)), 1);
      await addToCart(pair.a.url, owner.token, product.id, 2);
      const order = await checkout(pair.a.url, owner.token);
      expect(await stockOf(pair.a.url, product.id)).toBe(3);
      expect((await nextWithin(stock)).data.stockChanged).toEqual({ stock: 3, inStock: true, product: { id: product.id, stock: 3 } });
      expect((await nextWithin(orders)).data.orderUpdated).toEqual({ ...order, status: "PLACED" });

      const cancelled = (await ok(pair.a.url, `mutation($id: ID!) { cancelOrder(id: $id) { ${ORDER} } }`, { id: order.id }, owner.token)).cancelOrder;
      expect(cancelled).toEqual({ ...order, status: "CANCELLED" });
      expect(await stockOf(pair.a.url, product.id)).toBe(before);
      expect((await nextWithin(stock)).data.stockChanged).toEqual({ stock: before, inStock: true, product: { id: product.id, stock: before } });
      expect((await nextWithin(orders)).data.orderUpdated).toEqual({ ...order, status: "CANCELLED" });
    } finally {
      await closeAll([stock, orders], [watcher, ownerWs]);
    }
  });

  it("a checkout on instance B reaches the user's cartUpdated and orderUpdated subscriptions on instance A", async () => {
    const [product] = await someProducts(pair.b.url, 1);
    const u = await signUp(pair.b.url, "Two Instance Customer");
    const added = await addToCart(pair.b.url, u.token, product!.id, 1);
    const ws = wsClient(pair.a.wsUrl, u.token);
    const cart = ws.iterate<any>({ query: CART_UPDATED });
    const orders = ws.iterate<any>({ query: ORDER_UPDATED, variables: {} });
    try {
      await waitForSubscribers(channel("CART_UPDATED", userKey(u.userId)), 1);
      await waitForSubscribers(channel("USER_ORDER_UPDATED", userKey(u.userId)), 1);
      const order = await checkout(pair.b.url, u.token);
      const emptied = (await nextWithin(cart)).data.cartUpdated;
      expect(emptied).toEqual({ id: added.id, version: added.version + 1, itemCount: 0, items: [] });
      expect((await nextWithin(orders)).data.orderUpdated).toEqual({ id: order.id, number: order.number, status: "PLACED" });
      // What A pushed is what B's database now says.
      expect((await ok(pair.a.url, `{ cart { ${CART} } }`, {}, u.token)).cart).toEqual(emptied);
    } finally {
      await closeAll([cart, orders], [ws]);
    }
  });

  it("notificationReceived: the owner is told in ORDER_UPDATES when staff mark the order PAID", async () => {
    const [product] = await someProducts(pair.a.url, 1);
    const owner = await signUp(pair.a.url, "Notified Customer");
    const staff = await logIn(pair.a.url, DEMO.staff);
    await addToCart(pair.a.url, owner.token, product!.id, 1);
    const order = await checkout(pair.a.url, owner.token);
    const ws = wsClient(pair.a.wsUrl, owner.token);
    const notifications = ws.iterate<any>({ query: NOTIFICATION });
    try {
      await waitForSubscribers(channel("NOTIFICATION_RECEIVED", userKey(owner.userId)), 1);
      await setStatus(pair.a.url, staff, order.id, "PAID");
      const received = (await nextWithin(notifications)).data.notificationReceived;
      expect(received).toMatchObject({ category: "ORDER_UPDATES", readAt: null });
      expect(received.title).toContain(order.number);
      expect(`${received.title} ${received.body}`.toLowerCase()).toContain("paid");
      // It is the stored notification: the newest in the owner's list.
      const list = (await ok(pair.a.url, `{ notifications(first: 1) { edges { node { id category title } } } }`, {}, owner.token)).notifications;
      expect(list.edges[0].node).toEqual({ id: received.id, category: received.category, title: received.title });
    } finally {
      await closeAll([notifications], [ws]);
    }
  });
});

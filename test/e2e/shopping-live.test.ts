import { randomUUID } from "node:crypto";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { Client } from "graphql-ws";
import { describe, expect, it } from "vitest";
import { keyOf, toGlobalId } from "../../src/lib/ids.ts";
import {
  CancelOrderBriefDocument,
  CartDocument,
  CartUpdatedDocument,
  LatestNotificationDocument,
  NotificationReceivedDocument,
  OrderIdDocument,
  OrderPlacedDocument,
  OrderUpdatedDocument,
  StockChangedDocument,
  type OrderStatus,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import {
  DEMO,
  logIn,
  nextWithin,
  ok,
  request,
  signUp,
  subscribe,
  textOf,
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

const channel = (topic: string, id: string) => `${pair.prefix}${topic}:${id}`;
const userKey = (id: string) => keyOf(id, "User")!;

async function addToCart(url: string, token: string, productId: string, quantity: number) {
  return ok(await fixtures.addToCart(url, token, productId, quantity)).addToCart;
}

/** Checks out a fresh key; the order's id, number and status (what orderUpdated carries). */
async function checkout(url: string, token: string) {
  const { id, number, status } = ok(await fixtures.checkout(url, token)).checkout;
  return { id, number, status };
}

async function setStatus(url: string, token: string, id: string, status: OrderStatus) {
  return ok(await fixtures.setOrderStatus(url, token, id, status)).setOrderStatus;
}

const stockOf = fixtures.stockOf;

type Refusal = { message: string; extensions?: { code?: string } };

/** The error a subscription is refused with (sent as a `next` with errors, or as an `error` message). */
async function refusal<R, V>(client: Client, document: TypedDocumentNode<R, V>, variables: Record<string, unknown> = {}) {
  const events = client.iterate<R>({ query: textOf(document), variables });
  try {
    const result = await nextWithin(events);
    expect(result.data ?? null, "the subscription must be refused, not delivered").toBeNull();
    return result.errors?.[0] as Refusal | undefined;
  } catch (error) {
    if (Array.isArray(error)) return error[0] as Refusal;
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
    const it2 = subscribe(c2, CartUpdatedDocument);
    const it3 = subscribe(c3, CartUpdatedDocument);
    const itV = subscribe(cv, CartUpdatedDocument);
    try {
      await waitForSubscribers(channel("CART_UPDATED", userKey(u.userId)), 2);
      await waitForSubscribers(channel("CART_UPDATED", userKey(v.userId)), 1);
      let vReceived: Awaited<ReturnType<typeof itV.next>>["value"] | undefined = undefined;
      const vFirst = nextWithin(itV, 10_000).then((event) => (vReceived = event));

      const added = await addToCart(pair.a.url, u.token, p1!.id, 1);
      expect(added).toMatchObject({ version: 1, itemCount: 1, items: [{ quantity: 1, product: { id: p1!.id } }] });
      const changed = ok(await fixtures.setCartItemQuantity(pair.a.url, u.token, p1!.id, 3)).setCartItemQuantity;
      expect(changed).toEqual({
        id: added.id,
        version: 2,
        itemCount: 3,
        items: [{ quantity: 3, product: { id: p1!.id } }],
        subtotal: { amountCents: 3 * p1!.priceCents },
      });

      for (const events of [it2, it3]) {
        expect((await nextWithin(events)).data?.cartUpdated).toEqual(added);
        expect((await nextWithin(events)).data?.cartUpdated).toEqual(changed);
      }
      // Both of U's events have reached U's clients; V has been told nothing so far.
      expect(vReceived).toBeUndefined();
      // V's own change is V's first event: had V been given U's events, they would come first.
      const vCart = await addToCart(pair.a.url, v.token, p2!.id, 2);
      expect(vCart).toMatchObject({ version: 1, itemCount: 2 });
      expect(vCart.id).not.toBe(added.id);
      expect((await vFirst)?.data?.cartUpdated).toEqual(vCart);
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
    const placed = subscribe(staffWs, OrderPlacedDocument);
    let updates: AsyncIterator<unknown> | undefined;
    try {
      // A customer may not watch new orders.
      const forbidden = await refusal(otherWs, OrderPlacedDocument);
      expect(forbidden?.extensions?.code).toBe("FORBIDDEN");

      await waitForSubscribers(channel("ORDER_PLACED", "all"), 1);
      await addToCart(pair.a.url, owner.token, product!.id, 2);
      const order = await checkout(pair.a.url, owner.token);
      expect(order.status).toBe("PLACED");
      const placedEvent = (await nextWithin(placed)).data?.orderPlaced;
      expect(placedEvent).toEqual({ ...order, total: { amountCents: 2 * product!.priceCents } });

      // Someone else's order looks exactly like one that does not exist.
      const fake = toGlobalId("Order", randomUUID());
      const otherRead = await request(pair.a.url, OrderIdDocument, { id: order.id }, other.token);
      expect(otherRead.errors).toBeUndefined();
      expect(otherRead.data?.order).toBeNull();
      expect((await request(pair.a.url, OrderIdDocument, { id: fake }, other.token)).data?.order).toBeNull();
      const notMine = await refusal(otherWs, OrderUpdatedDocument, { id: order.id });
      const missing = await refusal(otherWs, OrderUpdatedDocument, { id: fake });
      expect(notMine?.extensions?.code).toBe("NOT_FOUND");
      expect(missing?.extensions?.code).toBe("NOT_FOUND");
      expect(notMine?.message).toBe(missing?.message);

      const ownerUpdates = subscribe(ownerWs, OrderUpdatedDocument, { id: order.id });
      updates = ownerUpdates;
      await waitForSubscribers(channel("ORDER_UPDATED", keyOf(order.id, "Order")!), 1);
      const steps: OrderStatus[] = ["PAID", "SHIPPED", "DELIVERED"];
      for (const status of steps) expect((await setStatus(pair.a.url, staff, order.id, status)).status).toBe(status);
      // One event per change, in order: a duplicate or a missing event shifts what follows.
      for (const status of steps) {
        expect((await nextWithin(ownerUpdates)).data?.orderUpdated).toEqual({ id: order.id, number: order.number, status });
      }
    } finally {
      await closeAll([placed, ...(updates ? [updates] : [])], [staffWs, ownerWs, otherWs]);
    }
  });

  it("cancelOrder returns the stock, announced on stockChanged, and the owner's orderUpdated says CANCELLED", async () => {
    const staff = await logIn(pair.a.url, DEMO.staff);
    // Exactly 5 on hand (newProduct checks what adjustStock answered).
    const before = 5;
    const product = await fixtures.newProduct(pair.a.url, staff, { stock: before, priceCents: 1250, label: "live-cancel" });
    const owner = await signUp(pair.a.url, "Cancelling Customer");
    const watcher = wsClient(pair.a.wsUrl);
    const ownerWs = wsClient(pair.a.wsUrl, owner.token);
    const stock = subscribe(watcher, StockChangedDocument, { productIds: [product.id] });
    const orders = subscribe(ownerWs, OrderUpdatedDocument, {});
    try {
      await waitForSubscribers(channel("STOCK_CHANGED", keyOf(product.id, "Product")!), 1);
      await waitForSubscribers(channel("USER_ORDER_UPDATED", userKey(owner.userId)), 1);
      await addToCart(pair.a.url, owner.token, product.id, 2);
      const order = await checkout(pair.a.url, owner.token);
      expect(await stockOf(pair.a.url, product.id)).toBe(3);
      expect((await nextWithin(stock)).data?.stockChanged).toEqual({ stock: 3, inStock: true, product: { id: product.id, stock: 3 } });
      expect((await nextWithin(orders)).data?.orderUpdated).toEqual({ ...order, status: "PLACED" });

      const cancelled = ok(await request(pair.a.url, CancelOrderBriefDocument, { id: order.id }, owner.token)).cancelOrder;
      expect(cancelled).toEqual({ ...order, status: "CANCELLED" });
      expect(await stockOf(pair.a.url, product.id)).toBe(before);
      expect((await nextWithin(stock)).data?.stockChanged).toEqual({ stock: before, inStock: true, product: { id: product.id, stock: before } });
      expect((await nextWithin(orders)).data?.orderUpdated).toEqual({ ...order, status: "CANCELLED" });
    } finally {
      await closeAll([stock, orders], [watcher, ownerWs]);
    }
  });

  it("a checkout on instance B reaches the user's cartUpdated and orderUpdated subscriptions on instance A", async () => {
    const [product] = await someProducts(pair.b.url, 1);
    const u = await signUp(pair.b.url, "Two Instance Customer");
    const added = await addToCart(pair.b.url, u.token, product!.id, 1);
    const ws = wsClient(pair.a.wsUrl, u.token);
    const cart = subscribe(ws, CartUpdatedDocument);
    const orders = subscribe(ws, OrderUpdatedDocument, {});
    try {
      await waitForSubscribers(channel("CART_UPDATED", userKey(u.userId)), 1);
      await waitForSubscribers(channel("USER_ORDER_UPDATED", userKey(u.userId)), 1);
      const order = await checkout(pair.b.url, u.token);
      const emptied = (await nextWithin(cart)).data?.cartUpdated;
      expect(emptied).toEqual({ id: added.id, version: added.version + 1, itemCount: 0, items: [], subtotal: { amountCents: 0 } });
      expect((await nextWithin(orders)).data?.orderUpdated).toEqual({ id: order.id, number: order.number, status: "PLACED" });
      // What A pushed is what B's database now says.
      expect(ok(await request(pair.a.url, CartDocument, {}, u.token)).cart).toEqual(emptied);
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
    const notifications = subscribe(ws, NotificationReceivedDocument);
    try {
      await waitForSubscribers(channel("NOTIFICATION_RECEIVED", userKey(owner.userId)), 1);
      await setStatus(pair.a.url, staff, order.id, "PAID");
      const received = (await nextWithin(notifications)).data!.notificationReceived;
      expect(received).toMatchObject({ category: "ORDER_UPDATES", readAt: null });
      expect(received.title).toContain(order.number);
      expect(`${received.title} ${received.body}`.toLowerCase()).toContain("paid");
      // It is the stored notification: the newest in the owner's list.
      const list = ok(await request(pair.a.url, LatestNotificationDocument, {}, owner.token)).notifications;
      expect(list.edges[0]?.node).toEqual({ id: received.id, category: received.category, title: received.title });
    } finally {
      await closeAll([notifications], [ws]);
    }
  });
});

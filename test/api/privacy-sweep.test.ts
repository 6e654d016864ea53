// IDOR sweep: everything that exposes one user's cart, orders, notifications, email or sessions,
// asked for by another customer, gives nothing of it, and answers exactly as for an id that does not exist.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { keyOf, toGlobalId } from "../../src/lib/ids.ts";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import {
  CancelOrderDocument,
  CartUpdatedDocument,
  LogOutDocument,
  MarkNotificationReadDocument,
  MeIdDocument,
  MyEverythingDocument,
  NodeOrderNumberDocument,
  NodeUserEmailOrdersDocument,
  NotificationIdsDocument,
  NotificationNodeDocument,
  NotificationReceivedDocument,
  OrderCustomerEmailDocument,
  OrderCustomerNameDocument,
  OrderPlacedNumberDocument,
  OrdersWithCustomersDocument,
  OrderUpdatedDocument,
  OrderWithEmailDocument,
  OwnOrderAndUnreadDocument,
  RefreshSessionDocument,
  SetOrderStatusDocument,
  SetUserRoleDocument,
  UserEmailsDocument,
  type OrderStatus,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, codeOf, logIn, nextWithin, ok, request, signUp, someProducts, subscribe, textOf, uniquePrefix, useTestServer, waitForSubscribers, wsClient } from "../harness/index.ts";

const prefix = uniquePrefix();
const server = useTestServer({ redisPrefix: prefix });

interface Party {
  token: string;
  userId: string;
  email: string;
  orderId: string;
  orderNumber: string;
  notificationId: string;
  cartId: string;
}
let victim: Party;
let attacker: Party;
let staff: string;

async function party(key: string): Promise<Party> {
  const user = await signUp(server.app.url);
  const [product] = await someProducts(server.app.url, 1);
  ok(await fixtures.addToCart(server.app.url, user.token, product!.id, 1));
  const order = ok(await fixtures.checkout(server.app.url, user.token, key)).checkout;
  const cart = ok(await fixtures.addToCart(server.app.url, user.token, product!.id, 1)).addToCart;
  const notes = ok(await request(server.app.url, NotificationIdsDocument, {}, user.token));
  return { ...user, orderId: order.id, orderNumber: order.number, notificationId: notes.notifications.edges[0]!.node.id, cartId: cart.id };
}

/** Nothing that identifies the victim's data appears anywhere in the response. */
function expectNoVictimData(response: unknown) {
  const text = JSON.stringify(response);
  for (const secret of [victim.email, victim.orderNumber, victim.orderId, victim.notificationId, victim.cartId, victim.userId]) {
    expect(text).not.toContain(secret);
  }
}

beforeAll(async () => {
  victim = await party("same-key");
  attacker = await party("same-key");
  staff = await logIn(server.app.url, DEMO.staff);
});

describe("another customer's data is unreachable over HTTP", () => {
  it("lookups by id answer exactly as for ids that do not exist", async () => {
    const cases: [TypedDocumentNode<unknown, { id: string }>, string, string][] = [
      [OrderWithEmailDocument, victim.orderId, toGlobalId("Order", randomUUID())],
      [NodeOrderNumberDocument, victim.orderId, toGlobalId("Order", randomUUID())],
      [NodeUserEmailOrdersDocument, victim.userId, toGlobalId("User", randomUUID())],
      [NotificationNodeDocument, victim.notificationId, toGlobalId("Notification", randomUUID())],
      [MarkNotificationReadDocument, victim.notificationId, toGlobalId("Notification", randomUUID())],
      [CancelOrderDocument, victim.orderId, toGlobalId("Order", randomUUID())],
    ];
    for (const [document, real, fake] of cases) {
      const forVictim = await request(server.app.url, document, { id: real }, attacker.token);
      const forNobody = await request(server.app.url, document, { id: fake }, attacker.token);
      expectNoVictimData(forVictim);
      expect(forVictim, textOf(document)).toEqual(forNobody);
    }
    // Nothing changed for the victim.
    const own = ok(await request(server.app.url, OwnOrderAndUnreadDocument, { id: victim.orderId }, victim.token));
    expect(own.order?.status).toBe("PLACED");
    expect(own.notifications.edges.map((e) => e.node.id)).toContain(victim.notificationId);
  });

  it("lists and the viewer's own objects hold only the caller's data", async () => {
    const statuses: (OrderStatus | null)[] = [null, "PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"];
    for (const status of statuses) {
      const res = ok(await request(server.app.url, OrdersWithCustomersDocument, { status }, attacker.token));
      expectNoVictimData(res);
      for (const edge of res.orders.edges) expect(edge.node.customer.id).toBe(attacker.userId);
    }
    const mine = ok(await request(server.app.url, MyEverythingDocument, {}, attacker.token));
    expectNoVictimData(mine);
    expect(mine.me?.id).toBe(attacker.userId);
    expect(mine.cart.id).toBe(attacker.cartId);
  });

  it("the same idempotency key is per user: the attacker's checkout never returns the victim's order", async () => {
    const [product] = await someProducts(server.app.url, 1);
    ok(await fixtures.setCartItemQuantity(server.app.url, attacker.token, product!.id, 0));
    const replay = await fixtures.checkout(server.app.url, attacker.token, "same-key");
    expectNoVictimData(replay);
    expect(replay.data?.checkout.id).toBe(attacker.orderId);
  });

  it("staff-only and admin-only operations are FORBIDDEN; staff cannot read a customer's email", async () => {
    for (const res of [
      await request(server.app.url, SetOrderStatusDocument, { id: victim.orderId, status: "PAID" }, attacker.token),
      await request(server.app.url, UserEmailsDocument, {}, attacker.token),
      await request(server.app.url, SetUserRoleDocument, { userId: victim.userId, role: "CUSTOMER" }, attacker.token),
    ]) {
      expect(codeOf(res)).toBe("FORBIDDEN");
      expectNoVictimData(res);
    }
    const asStaff = await request(server.app.url, OrderCustomerEmailDocument, { id: victim.orderId }, staff);
    expect(codeOf(asStaff)).toBe("FORBIDDEN");
    expect(JSON.stringify(asStaff)).not.toContain(victim.email);
    const name = ok(await request(server.app.url, OrderCustomerNameDocument, { id: victim.orderId }, staff));
    expect(name.order?.customer.id).toBe(victim.userId);
  });

  it("sessions: a refresh token the attacker does not hold cannot touch the victim's session", async () => {
    const res = await request(server.app.url, LogOutDocument, { refreshToken: randomUUID() });
    expect(res.data?.logOut).toBe(false);
    const refresh = await request(server.app.url, RefreshSessionDocument, { refreshToken: randomUUID() });
    expect(codeOf(refresh)).toBe("UNAUTHENTICATED");
    expect(ok(await request(server.app.url, MeIdDocument, {}, victim.token)).me?.id).toBe(victim.userId);
  });
});

describe("another customer's events never reach a subscriber", () => {
  it("orderUpdated(id) of the victim's order is NOT_FOUND exactly like an unknown id; orderPlaced is FORBIDDEN", async () => {
    const client = wsClient(server.app.wsUrl, attacker.token);
    try {
      const errorOf = async (events: AsyncIterator<unknown>) => {
        try {
          return await nextWithin(events);
        } catch (error) {
          return error;
        }
      };
      const real = await errorOf(subscribe(client, OrderUpdatedDocument, { id: victim.orderId }));
      const fake = await errorOf(subscribe(client, OrderUpdatedDocument, { id: toGlobalId("Order", randomUUID()) }));
      expect(JSON.stringify(real)).toContain("NOT_FOUND");
      expect(real).toEqual(fake);
      expect(JSON.stringify(await errorOf(subscribe(client, OrderPlacedNumberDocument)))).toContain("FORBIDDEN");
    } finally {
      await client.dispose();
    }
  });

  it("orderUpdated, cartUpdated and notificationReceived deliver the attacker's own events, never the victim's", async () => {
    const client = wsClient(server.app.wsUrl, attacker.token);
    const orders = subscribe(client, OrderUpdatedDocument, {});
    const carts = subscribe(client, CartUpdatedDocument);
    const notes = subscribe(client, NotificationReceivedDocument);
    try {
      const me = keyOf(attacker.userId, "User");
      await waitForSubscribers(`${prefix}USER_ORDER_UPDATED:${me}`);
      await waitForSubscribers(`${prefix}CART_UPDATED:${me}`);
      await waitForSubscribers(`${prefix}NOTIFICATION_RECEIVED:${me}`);
      // The victim's events first, then the attacker's: the first event each stream delivers must be the attacker's.
      const [product] = await someProducts(server.app.url, 1);
      ok(await fixtures.setOrderStatus(server.app.url, staff, victim.orderId, "PAID"));
      ok(await fixtures.addToCart(server.app.url, victim.token, product!.id, 1));
      ok(await fixtures.setOrderStatus(server.app.url, staff, attacker.orderId, "PAID"));
      ok(await fixtures.addToCart(server.app.url, attacker.token, product!.id, 1));
      const order = await nextWithin(orders);
      const cart = await nextWithin(carts);
      const note = await nextWithin(notes);
      for (const event of [order, cart, note]) expectNoVictimData(event);
      expect(order.data?.orderUpdated.id).toBe(attacker.orderId);
      expect(cart.data?.cartUpdated.id).toBe(attacker.cartId);
      expect(note.data?.notificationReceived.title).toContain(attacker.orderNumber);
    } finally {
      await orders.return?.();
      await carts.return?.();
      await notes.return?.();
      await client.dispose();
    }
  });
});

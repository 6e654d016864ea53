// IDOR sweep: everything that exposes one user's cart, orders, notifications, email or sessions,
// asked for by another customer, gives nothing of it, and answers exactly as for an id that does not exist.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { keyOf, toGlobalId } from "../../src/lib/ids.ts";
import { DEMO, gql, logIn, nextWithin, signUp, someProducts, uniquePrefix, useTestServer, waitForSubscribers, wsClient } from "../harness/index.ts";

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

async function ok(query: string, variables: Record<string, unknown>, token?: string) {
  const res = await gql(server.app.url, query, variables, token);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data;
}

async function party(key: string): Promise<Party> {
  const user = await signUp(server.app.url);
  const [product] = await someProducts(server.app.url, 1);
  await ok(`mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { id } }`, { p: product!.id }, user.token);
  const order = (await ok(`mutation($k: String!) { checkout(idempotencyKey: $k) { id number } }`, { k: key }, user.token)).checkout;
  const cart = (await ok(`mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { id } }`, { p: product!.id }, user.token)).addToCart;
  const notes = await ok(`{ notifications { edges { node { id } } } }`, {}, user.token);
  return { ...user, orderId: order.id, orderNumber: order.number, notificationId: notes.notifications.edges[0].node.id, cartId: cart.id };
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
    const cases: [string, string, string][] = [
      [`query($id: ID!) { order(id: $id) { id number customer { email } } }`, victim.orderId, toGlobalId("Order", randomUUID())],
      [`query($id: ID!) { node(id: $id) { id ... on Order { number } } }`, victim.orderId, toGlobalId("Order", randomUUID())],
      [`query($id: ID!) { node(id: $id) { id ... on User { email orders { totalCount } } } }`, victim.userId, toGlobalId("User", randomUUID())],
      [`query($id: ID!) { node(id: $id) { id ... on Notification { title } } }`, victim.notificationId, toGlobalId("Notification", randomUUID())],
      [`mutation($id: ID!) { markNotificationRead(id: $id) { id } }`, victim.notificationId, toGlobalId("Notification", randomUUID())],
      [`mutation($id: ID!) { cancelOrder(id: $id) { id } }`, victim.orderId, toGlobalId("Order", randomUUID())],
    ];
    for (const [query, real, fake] of cases) {
      const forVictim = await gql(server.app.url, query, { id: real }, attacker.token);
      const forNobody = await gql(server.app.url, query, { id: fake }, attacker.token);
      expectNoVictimData(forVictim);
      expect(forVictim, query).toEqual(forNobody);
    }
    // Nothing changed for the victim.
    const own = await ok(`query($id: ID!) { order(id: $id) { status } notifications(unreadOnly: true) { edges { node { id } } } }`, { id: victim.orderId }, victim.token);
    expect(own.order.status).toBe("PLACED");
    expect(own.notifications.edges.map((e: any) => e.node.id)).toContain(victim.notificationId);
  });

  it("lists and the viewer's own objects hold only the caller's data", async () => {
    const statuses = [null, "PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"];
    for (const status of statuses) {
      const res = await ok(`query($s: OrderStatus) { orders(first: 100, status: $s) { edges { node { id customer { id email } } } } }`, { s: status }, attacker.token);
      expectNoVictimData(res);
      for (const edge of res.orders.edges) expect(edge.node.customer.id).toBe(attacker.userId);
    }
    const mine = await ok(
      `{ me { id email orders(first: 100) { edges { node { id } } } } cart { id items { quantity } } notifications(first: 100) { edges { node { id } } } notificationPreferences { category } }`,
      {},
      attacker.token,
    );
    expectNoVictimData(mine);
    expect(mine.me.id).toBe(attacker.userId);
    expect(mine.cart.id).toBe(attacker.cartId);
  });

  it("the same idempotency key is per user: the attacker's checkout never returns the victim's order", async () => {
    const [product] = await someProducts(server.app.url, 1);
    await ok(`mutation($p: ID!) { setCartItemQuantity(productId: $p, quantity: 0) { id } }`, { p: product!.id }, attacker.token);
    const replay = await gql(server.app.url, `mutation { checkout(idempotencyKey: "same-key") { id number } }`, {}, attacker.token);
    expectNoVictimData(replay);
    expect(replay.data.checkout.id).toBe(attacker.orderId);
  });

  it("staff-only and admin-only operations are FORBIDDEN; staff cannot read a customer's email", async () => {
    for (const [query, vars] of [
      [`mutation($id: ID!) { setOrderStatus(id: $id, status: PAID) { id } }`, { id: victim.orderId }],
      [`{ users { edges { node { email } } } }`, {}],
      [`mutation($id: ID!) { setUserRole(userId: $id, role: CUSTOMER) { id } }`, { id: victim.userId }],
    ] as const) {
      const res = await gql(server.app.url, query, vars, attacker.token);
      expect(res.errors?.[0]?.extensions.code).toBe("FORBIDDEN");
      expectNoVictimData(res);
    }
    const asStaff = await gql(server.app.url, `query($id: ID!) { order(id: $id) { customer { name email } } }`, { id: victim.orderId }, staff);
    expect(asStaff.errors?.[0]?.extensions.code).toBe("FORBIDDEN");
    expect(JSON.stringify(asStaff)).not.toContain(victim.email);
    const name = await ok(`query($id: ID!) { order(id: $id) { customer { id name } } }`, { id: victim.orderId }, staff);
    expect(name.order.customer.id).toBe(victim.userId);
  });

  it("sessions: a refresh token the attacker does not hold cannot touch the victim's session", async () => {
    const res = await gql(server.app.url, `mutation($r: String!) { logOut(refreshToken: $r) }`, { r: randomUUID() });
    expect(res.data.logOut).toBe(false);
    const refresh = await gql(server.app.url, `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`, { r: randomUUID() });
    expect(refresh.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    expect((await ok(`{ me { id } }`, {}, victim.token)).me.id).toBe(victim.userId);
  });
});

describe("another customer's events never reach a subscriber", () => {
  it("orderUpdated(id) of the victim's order is NOT_FOUND exactly like an unknown id; orderPlaced is FORBIDDEN", async () => {
    const client = wsClient(server.app.wsUrl, attacker.token);
    try {
      const errorOf = async (query: string, variables: Record<string, unknown> = {}) => {
        try {
          return await nextWithin(client.iterate({ query, variables }));
        } catch (error) {
          return error;
        }
      };
      const real = await errorOf(`subscription($id: ID) { orderUpdated(id: $id) { id } }`, { id: victim.orderId });
      const fake = await errorOf(`subscription($id: ID) { orderUpdated(id: $id) { id } }`, { id: toGlobalId("Order", randomUUID()) });
      expect(JSON.stringify(real)).toContain("NOT_FOUND");
      expect(real).toEqual(fake);
      expect(JSON.stringify(await errorOf(`subscription { orderPlaced { id } }`))).toContain("FORBIDDEN");
    } finally {
      await client.dispose();
    }
  });

  it("orderUpdated, cartUpdated and notificationReceived deliver the attacker's own events, never the victim's", async () => {
    const client = wsClient(server.app.wsUrl, attacker.token);
    const orders = client.iterate({ query: `subscription { orderUpdated { id number } }` });
    const carts = client.iterate({ query: `subscription { cartUpdated { id } }` });
    const notes = client.iterate({ query: `subscription { notificationReceived { id title } }` });
    try {
      const me = keyOf(attacker.userId, "User");
      await waitForSubscribers(`${prefix}USER_ORDER_UPDATED:${me}`);
      await waitForSubscribers(`${prefix}CART_UPDATED:${me}`);
      await waitForSubscribers(`${prefix}NOTIFICATION_RECEIVED:${me}`);
      // The victim's events first, then the attacker's: the first event each stream delivers must be the attacker's.
      const [product] = await someProducts(server.app.url, 1);
      await ok(`mutation($id: ID!) { setOrderStatus(id: $id, status: PAID) { id } }`, { id: victim.orderId }, staff);
      await ok(`mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { id } }`, { p: product!.id }, victim.token);
      await ok(`mutation($id: ID!) { setOrderStatus(id: $id, status: PAID) { id } }`, { id: attacker.orderId }, staff);
      await ok(`mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { id } }`, { p: product!.id }, attacker.token);
      const order = (await nextWithin(orders)) as any;
      const cart = (await nextWithin(carts)) as any;
      const note = (await nextWithin(notes)) as any;
      for (const event of [order, cart, note]) expectNoVictimData(event);
      expect(order.data.orderUpdated.id).toBe(attacker.orderId);
      expect(cart.data.cartUpdated.id).toBe(attacker.cartId);
      expect(note.data.notificationReceived.title).toContain(attacker.orderNumber);
    } finally {
      await orders.return?.();
      await carts.return?.();
      await notes.return?.();
      await client.dispose();
    }
  });
});

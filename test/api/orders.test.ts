import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { DEMO, gql, logIn, signUp, useTestServer, type GqlResponse } from "../harness/index.ts";

const server = useTestServer();

type Status = "PLACED" | "PAID" | "SHIPPED" | "DELIVERED" | "CANCELLED";
const STATUSES: Status[] = ["PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"];
const LEGAL: Record<Status, Status[]> = {
  PLACED: ["PAID", "CANCELLED"],
  PAID: ["SHIPPED", "CANCELLED"],
  SHIPPED: ["DELIVERED"],
  DELIVERED: [],
  CANCELLED: [],
};
/** The path from PLACED to each status. */
const PATH: Record<Status, Status[]> = {
  PLACED: [],
  PAID: ["PAID"],
  SHIPPED: ["PAID", "SHIPPED"],
  DELIVERED: ["PAID", "SHIPPED", "DELIVERED"],
  CANCELLED: ["CANCELLED"],
};

let staff: string;
let admin: string;
let categoryIds: string[];

beforeAll(async () => {
  [staff, admin] = await Promise.all([logIn(server.app.url, DEMO.staff), logIn(server.app.url, DEMO.admin)]);
  categoryIds = (await gql(server.app.url, `{ categories { id } }`)).data.categories.map((c: any) => c.id);
});

const q = <T = any>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlResponse<T>> =>
  gql<T>(server.app.url, query, variables, token);

function ok<T>(res: GqlResponse<T>): T {
  expect(res.errors).toBeUndefined();
  return res.data!;
}
const codeOf = (res: GqlResponse) => res.errors?.[0]?.extensions.code;

async function newProduct(stock: number, category = 0): Promise<{ id: string; name: string }> {
  const slug = `orders-${randomUUID().slice(0, 12)}`;
  const { createProduct } = ok(
    await q(`mutation($input: ProductInput!) { createProduct(input: $input) { id name } }`, {
      input: { slug, name: `Order Thing ${slug.slice(-12)}`, description: "made by orders.test", priceCents: 1_000, categoryId: categoryIds[category % categoryIds.length] },
    }, staff),
  );
  ok(await q(`mutation($p: ID!, $d: Int!) { adjustStock(productId: $p, delta: $d) { stock } }`, { p: createProduct.id, d: stock }, staff));
  return createProduct;
}

const stockOf = async (id: string): Promise<number> => ok(await q(`query($id: ID!) { product(id: $id) { stock } }`, { id })).product.stock;

/** Puts `lines` in the cart of `token` and checks out; returns the order's id. */
async function placeOrder(token: string, lines: [string, number][]): Promise<string> {
  for (const [p, n] of lines) ok(await q(`mutation($p: ID!, $n: Int!) { addToCart(productId: $p, quantity: $n) { version } }`, { p, n }, token));
  return ok(await q(`mutation($k: String!) { checkout(idempotencyKey: $k) { id } }`, { k: randomUUID() }, token)).checkout.id;
}

const setStatus = (id: string, status: Status, token = staff) =>
  q(`mutation($id: ID!, $s: OrderStatus!) { setOrderStatus(id: $id, status: $s) { id status } }`, { id, s: status }, token);
const cancel = (id: string, token: string) => q(`mutation($id: ID!) { cancelOrder(id: $id) { id status } }`, { id }, token);
const statusOf = async (id: string): Promise<Status> => ok(await q(`query($id: ID!) { order(id: $id) { status } }`, { id }, staff)).order.status;

describe("order status transitions", () => {
  it("every legal transition works; every other one is BAD_USER_INPUT and changes nothing", async () => {
    const product = await newProduct(50);
    const user = await signUp(server.app.url);
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        const id = await placeOrder(user.token, [[product.id, 1]]);
        for (const step of PATH[from]) expect(ok(await setStatus(id, step)).setOrderStatus.status).toBe(step);
        const stock = await stockOf(product.id);
        const res = await setStatus(id, to);
        if (LEGAL[from].includes(to)) {
          expect(ok(res).setOrderStatus, `${from} -> ${to}`).toEqual({ id, status: to });
          expect(await statusOf(id)).toBe(to);
          expect(await stockOf(product.id)).toBe(to === "CANCELLED" ? stock + 1 : stock);
        } else {
          expect(codeOf(res), `${from} -> ${to}`).toBe("BAD_USER_INPUT");
          expect(res.data).toBeNull();
          expect(await statusOf(id), `${from} -> ${to}`).toBe(from);
          expect(await stockOf(product.id)).toBe(stock);
        }
      }
    }
    // The owner heard of every change in ORDER_UPDATES.
    const titles: string[] = ok(await q(`{ notifications(first: 100) { edges { node { title } } } }`, {}, user.token)).notifications.edges.map((e: any) => e.node.title);
    for (const word of ["placed", "paid", "shipped", "delivered", "cancelled"]) expect(titles.some((t) => t.endsWith(` ${word}`))).toBe(true);
  });

  it("customers cannot set a status, cancel a shipped order, or cancel someone else's", async () => {
    const product = await newProduct(10);
    const [owner, other] = await Promise.all([signUp(server.app.url), signUp(server.app.url)]);
    const id = await placeOrder(owner.token, [[product.id, 2]]);

    const forbidden = await setStatus(id, "PAID", owner.token);
    expect(codeOf(forbidden)).toBe("FORBIDDEN");
    expect(await statusOf(id)).toBe("PLACED");

    const stock = await stockOf(product.id);
    const notMine = await cancel(id, other.token);
    expect(codeOf(notMine)).toBe("NOT_FOUND");
    expect(await statusOf(id)).toBe("PLACED");
    expect(await stockOf(product.id)).toBe(stock);

    ok(await setStatus(id, "PAID"));
    ok(await setStatus(id, "SHIPPED"));
    const shipped = await cancel(id, owner.token);
    expect(codeOf(shipped)).toBe("BAD_USER_INPUT");
    expect(await statusOf(id)).toBe("SHIPPED");
    expect(await stockOf(product.id)).toBe(stock);

    const second = await placeOrder(owner.token, [[product.id, 3]]);
    expect(ok(await cancel(second, owner.token)).cancelOrder).toEqual({ id: second, status: "CANCELLED" });
    expect(await stockOf(product.id)).toBe(stock);
  });
});

describe("who sees which orders", () => {
  it("customers see their own; staff see all and filter by status; admin alone reads customer emails", async () => {
    const product = await newProduct(10);
    const [a, b] = await Promise.all([signUp(server.app.url, "Ada Buyer"), signUp(server.app.url, "Bo Buyer")]);
    const orderA = await placeOrder(a.token, [[product.id, 1]]);
    const orderB = await placeOrder(b.token, [[product.id, 1]]);
    ok(await setStatus(orderA, "PAID"));

    const list = `query($s: OrderStatus) { orders(first: 100, status: $s) { totalCount edges { node { id status customer { id } } } } }`;
    const mine = ok(await q(list, {}, a.token)).orders;
    expect(mine.totalCount).toBe(1);
    expect(mine.edges.map((e: any) => e.node)).toEqual([{ id: orderA, status: "PAID", customer: { id: a.userId } }]);
    expect(ok(await q(list, { s: "PLACED" }, a.token)).orders.totalCount).toBe(0);

    const all = ok(await q(list, {}, staff)).orders;
    const allIds = all.edges.map((e: any) => e.node.id);
    expect(allIds).toEqual(expect.arrayContaining([orderA, orderB]));
    expect(all.totalCount).toBeGreaterThanOrEqual(4); // the seeded demo orders too
    const paid = ok(await q(list, { s: "PAID" }, staff)).orders;
    expect(paid.edges.every((e: any) => e.node.status === "PAID")).toBe(true);
    expect(paid.edges.map((e: any) => e.node.id)).toContain(orderA);
    expect(paid.edges.map((e: any) => e.node.id)).not.toContain(orderB);
    const placed = ok(await q(list, { s: "PLACED" }, staff)).orders;
    expect(placed.edges.map((e: any) => e.node.id)).toContain(orderB);
    expect(placed.edges.map((e: any) => e.node.id)).not.toContain(orderA);
    expect(paid.totalCount + placed.totalCount).toBeLessThanOrEqual(all.totalCount);

    // Someone else's order: null through order(id) and node(id), exactly as an unknown one.
    expect(ok(await q(`query($id: ID!) { order(id: $id) { id } }`, { id: orderB }, a.token)).order).toBeNull();
    expect(ok(await q(`query($id: ID!) { node(id: $id) { id } }`, { id: orderB }, a.token)).node).toBeNull();
    expect(ok(await q(`query($id: ID!) { node(id: $id) { id } }`, { id: orderA }, a.token)).node).toEqual({ id: orderA });
    expect(ok(await q(`query($id: ID!) { node(id: $id) { id ... on Order { status } } }`, { id: orderB }, staff)).node).toEqual({ id: orderB, status: "PLACED" });

    // Staff read any order's customer name and role, but not the email (ADMIN or owner only).
    const customer = `query($id: ID!) { order(id: $id) { number customer { name role } } }`;
    expect(ok(await q(customer, { id: orderB }, staff)).order.customer).toEqual({ name: "Bo Buyer", role: "CUSTOMER" });
    const email = `query($id: ID!) { order(id: $id) { number customer { name email } } }`;
    const byStaff = await q(email, { id: orderB }, staff);
    expect(codeOf(byStaff)).toBe("FORBIDDEN");
    expect(byStaff.errors?.[0]?.path).toEqual(["order", "customer", "email"]);
    expect(byStaff.data?.order).toBeNull(); // email is non-null: the error nulls up to the nullable order
    expect(JSON.stringify(byStaff)).not.toContain(b.email);
    expect(ok(await q(email, { id: orderB }, admin)).order.customer).toEqual({ name: "Bo Buyer", email: b.email });
    expect(ok(await q(email, { id: orderB }, b.token)).order.customer).toEqual({ name: "Bo Buyer", email: b.email });

    // Users: another's account is invisible to a customer; one's own orders are readable.
    const userNode = `query($id: ID!) { node(id: $id) { id ... on User { name orders(first: 5) { totalCount edges { node { id } } } } } }`;
    expect(ok(await q(userNode, { id: b.userId }, a.token)).node).toBeNull();
    expect(ok(await q(userNode, { id: a.userId }, a.token)).node).toEqual({ id: a.userId, name: "Ada Buyer", orders: { totalCount: 1, edges: [{ node: { id: orderA } }] } });
    expect(ok(await q(`{ me { id orders { totalCount edges { node { id } } } } }`, {}, b.token)).me).toEqual({ id: b.userId, orders: { totalCount: 1, edges: [{ node: { id: orderB } }] } });
    // Staff may read another user's orders through order.customer.
    const viaOrder = ok(await q(`query($id: ID!) { order(id: $id) { customer { orders { totalCount } } } }`, { id: orderA }, staff));
    expect(viaOrder.order.customer.orders.totalCount).toBe(1);
  });
});

describe("users and roles", () => {
  it("ADMIN lists every account; STAFF and customers are FORBIDDEN", async () => {
    const fresh = await signUp(server.app.url);
    const list = `{ users(first: 100) { totalCount edges { node { id email role } } } }`;
    const { users } = ok(await q(list, {}, admin));
    expect(users.totalCount).toBe(await server.app.db.prisma.user.count());
    expect(users.edges).toHaveLength(Math.min(100, users.totalCount));
    expect(users.edges.map((e: any) => e.node)).toContainEqual({ id: fresh.userId, email: fresh.email, role: "CUSTOMER" });
    expect(users.edges.map((e: any) => e.node.email)).toEqual(expect.arrayContaining([DEMO.admin.email, DEMO.staff.email, DEMO.customer.email]));
    for (const token of [staff, fresh.token]) {
      const res = await q(list, {}, token);
      expect(codeOf(res)).toBe("FORBIDDEN");
      expect(res.data).toBeNull();
    }
  });

  it("a promoted customer acts as STAFF on the next request with the same token; own role is off limits", async () => {
    const product = await newProduct(5);
    const [promoted, buyer] = await Promise.all([signUp(server.app.url), signUp(server.app.url)]);
    const order = await placeOrder(buyer.token, [[product.id, 1]]);
    expect(codeOf(await setStatus(order, "PAID", promoted.token))).toBe("FORBIDDEN");

    const setRole = `mutation($id: ID!, $r: Role!) { setUserRole(userId: $id, role: $r) { id role } }`;
    expect(codeOf(await q(setRole, { id: promoted.userId, r: "STAFF" }, staff))).toBe("FORBIDDEN");
    expect(ok(await q(setRole, { id: promoted.userId, r: "STAFF" }, admin)).setUserRole).toEqual({ id: promoted.userId, role: "STAFF" });
    expect(ok(await setStatus(order, "PAID", promoted.token)).setOrderStatus.status).toBe("PAID");
    expect(ok(await q(`query($id: ID!) { order(id: $id) { id } }`, { id: order }, promoted.token)).order).toEqual({ id: order });

    ok(await q(setRole, { id: promoted.userId, r: "CUSTOMER" }, admin));
    expect(codeOf(await setStatus(order, "SHIPPED", promoted.token))).toBe("FORBIDDEN");
    expect(await statusOf(order)).toBe("PAID");

    const me = ok(await q(`{ me { id role } }`, {}, admin)).me;
    const own = await q(setRole, { id: me.id, r: "CUSTOMER" }, admin);
    expect(codeOf(own)).toBe("BAD_USER_INPUT");
    expect(ok(await q(`{ me { role } }`, {}, admin)).me.role).toBe("ADMIN");
  });
});

describe("no N+1", () => {
  async function statements(query: string, variables: Record<string, unknown>, token: string) {
    const before = server.app.db.statementCount();
    const res = await q(query, variables, token);
    return { count: server.app.db.statementCount() - before, data: ok(res) };
  }

  it("orders with customers, items, products, categories and stock: same statements for 2 and 12 orders", async () => {
    const products = await Promise.all([0, 1, 2].map((c) => newProduct(100, c)));
    const buyers = await Promise.all(Array.from({ length: 12 }, (_, i) => signUp(server.app.url, `N1 Buyer ${i}`)));
    for (const [i, buyer] of buyers.entries()) {
      await placeOrder(buyer.token, products.slice(0, 2 + (i % 2)).map((p, j) => [p.id, 1 + j] as [string, number]));
    }
    const query = `query($n: Int) { orders(first: $n) { totalCount edges { node { number total { amountCents } customer { name } items { quantity product { name category { name } stock } } } } } }`;
    const few = await statements(query, { n: 2 }, staff);
    const many = await statements(query, { n: 12 }, staff);
    expect(few.data.orders.edges).toHaveLength(2);
    expect(many.data.orders.edges).toHaveLength(12);
    const names = new Set(many.data.orders.edges.map((e: any) => e.node.customer.name));
    expect(names).toEqual(new Set(buyers.map((_, i) => `N1 Buyer ${i}`)));
    expect(many.data.orders.edges.flatMap((e: any) => e.node.items)).toHaveLength(30);
    expect(many.count).toBe(few.count);
    expect(many.count).toBeLessThanOrEqual(10);
  });

  it("users with their orders page: same statements for few and many users with orders", async () => {
    const product = await newProduct(100);
    const buyers = await Promise.all(Array.from({ length: 6 }, () => signUp(server.app.url)));
    for (const [i, buyer] of buyers.entries()) {
      for (let k = 0; k <= i % 3; k++) await placeOrder(buyer.token, [[product.id, 1]]);
    }
    const query = `query($n: Int) { users(first: $n) { edges { node { id orders(first: 5) { totalCount edges { node { number items { quantity } } } } } } } }`;
    const few = await statements(query, { n: 3 }, admin);
    const many = await statements(query, { n: 100 }, admin);
    const withOrders = (data: any) => data.users.edges.filter((e: any) => e.node.orders.totalCount > 0).length;
    expect(withOrders(few.data)).toBeLessThanOrEqual(1); // seeded accounts: only the demo customer has orders
    expect(withOrders(many.data)).toBeGreaterThanOrEqual(6);
    const byId = new Map(many.data.users.edges.map((e: any) => [e.node.id, e.node.orders]));
    buyers.forEach((b, i) => {
      const orders = byId.get(b.userId) as any;
      expect(orders.totalCount).toBe(1 + (i % 3));
      expect(orders.edges).toHaveLength(1 + (i % 3));
    });
    expect(many.count).toBe(few.count);
    expect(many.count).toBeLessThanOrEqual(8);
  });
});

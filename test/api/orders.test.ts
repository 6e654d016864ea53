import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { beforeAll, describe, expect, it } from "vitest";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, codeOf, gql, logIn, ok, request, signUp, textOf, useTestServer } from "../harness/index.ts";
import {
  MeRoleDocument,
  MyOrderIdsDocument,
  NodeIdDocument,
  NodeOrderStatusDocument,
  NotificationTitlesDocument,
  OrderCustomerEmailDocument,
  OrderCustomerOrderCountDocument,
  OrderCustomerRoleDocument,
  OrderIdDocument,
  OrderListDocument,
  OrdersInDepthDocument,
  SetUserRoleDocument,
  StatusOfOrderDocument,
  UserListDocument,
  UserNodeOrdersDocument,
  UsersWithOrdersDocument,
  type OrderStatus as Status,
} from "../generated/graphql.ts";

const server = useTestServer();

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

beforeAll(async () => {
  [staff, admin] = await Promise.all([logIn(server.app.url, DEMO.staff), logIn(server.app.url, DEMO.admin)]);
});

const newProduct = (stock: number, category = 0) =>
  fixtures.newProduct(server.app.url, staff, { stock, category, priceCents: 1_000, label: "orders" });

const stockOf = (id: string) => fixtures.stockOf(server.app.url, id);

/** Puts `lines` in the cart of `token` and checks out; returns the order's id. */
const placeOrder = async (token: string, lines: [string, number][]): Promise<string> => (await fixtures.placeOrder(server.app.url, token, lines)).id;

const setStatus = (id: string, status: Status, token = staff) => fixtures.setOrderStatus(server.app.url, token, id, status);
const cancel = (id: string, token: string) => fixtures.cancelOrder(server.app.url, token, id);
const statusOf = async (id: string): Promise<Status> => ok(await request(server.app.url, StatusOfOrderDocument, { id }, staff)).order!.status;

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
    const titles: string[] = ok(await request(server.app.url, NotificationTitlesDocument, {}, user.token)).notifications.edges.map((e) => e.node.title);
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

    const list = (token: string, status?: Status) => request(server.app.url, OrderListDocument, { status }, token);
    const mine = ok(await list(a.token)).orders;
    expect(mine.totalCount).toBe(1);
    expect(mine.edges.map((e) => e.node)).toEqual([{ id: orderA, status: "PAID", customer: { id: a.userId } }]);
    expect(ok(await list(a.token, "PLACED")).orders.totalCount).toBe(0);

    const all = ok(await list(staff)).orders;
    const allIds = all.edges.map((e) => e.node.id);
    expect(allIds).toEqual(expect.arrayContaining([orderA, orderB]));
    expect(all.totalCount).toBeGreaterThanOrEqual(4); // the seeded demo orders too
    const paid = ok(await list(staff, "PAID")).orders;
    expect(paid.edges.every((e) => e.node.status === "PAID")).toBe(true);
    expect(paid.edges.map((e) => e.node.id)).toContain(orderA);
    expect(paid.edges.map((e) => e.node.id)).not.toContain(orderB);
    const placed = ok(await list(staff, "PLACED")).orders;
    expect(placed.edges.map((e) => e.node.id)).toContain(orderB);
    expect(placed.edges.map((e) => e.node.id)).not.toContain(orderA);
    expect(paid.totalCount + placed.totalCount).toBeLessThanOrEqual(all.totalCount);

    // Someone else's order: null through order(id) and node(id), exactly as an unknown one.
    expect(ok(await request(server.app.url, OrderIdDocument, { id: orderB }, a.token)).order).toBeNull();
    expect(ok(await request(server.app.url, NodeIdDocument, { id: orderB }, a.token)).node).toBeNull();
    expect(ok(await request(server.app.url, NodeIdDocument, { id: orderA }, a.token)).node).toEqual({ id: orderA });
    expect(ok(await request(server.app.url, NodeOrderStatusDocument, { id: orderB }, staff)).node).toEqual({ id: orderB, status: "PLACED" });

    // Staff read any order's customer name and role, but not the email (ADMIN or owner only).
    expect(ok(await request(server.app.url, OrderCustomerRoleDocument, { id: orderB }, staff)).order?.customer).toEqual({ name: "Bo Buyer", role: "CUSTOMER" });
    const email = (token: string) => request(server.app.url, OrderCustomerEmailDocument, { id: orderB }, token);
    const byStaff = await email(staff);
    expect(codeOf(byStaff)).toBe("FORBIDDEN");
    expect(byStaff.errors?.[0]?.path).toEqual(["order", "customer", "email"]);
    expect(byStaff.data?.order).toBeNull(); // email is non-null: the error nulls up to the nullable order
    expect(JSON.stringify(byStaff)).not.toContain(b.email);
    expect(ok(await email(admin)).order?.customer).toEqual({ name: "Bo Buyer", email: b.email });
    expect(ok(await email(b.token)).order?.customer).toEqual({ name: "Bo Buyer", email: b.email });

    // Users: another's account is invisible to a customer; one's own orders are readable.
    const userNode = (id: string, token: string) => request(server.app.url, UserNodeOrdersDocument, { id }, token);
    expect(ok(await userNode(b.userId, a.token)).node).toBeNull();
    expect(ok(await userNode(a.userId, a.token)).node).toEqual({ id: a.userId, name: "Ada Buyer", orders: { totalCount: 1, edges: [{ node: { id: orderA } }] } });
    expect(ok(await request(server.app.url, MyOrderIdsDocument, {}, b.token)).me).toEqual({ id: b.userId, orders: { totalCount: 1, edges: [{ node: { id: orderB } }] } });
    // Staff may read another user's orders through order.customer.
    const viaOrder = ok(await request(server.app.url, OrderCustomerOrderCountDocument, { id: orderA }, staff));
    expect(viaOrder.order?.customer.orders.totalCount).toBe(1);
  });
});

describe("users and roles", () => {
  it("ADMIN lists every account; STAFF and customers are FORBIDDEN", async () => {
    const fresh = await signUp(server.app.url);
    const list = (token: string) => request(server.app.url, UserListDocument, {}, token);
    const { users } = ok(await list(admin));
    expect(users.totalCount).toBe(await server.app.db.prisma.user.count());
    expect(users.edges).toHaveLength(Math.min(100, users.totalCount));
    expect(users.edges.map((e) => e.node)).toContainEqual({ id: fresh.userId, email: fresh.email, role: "CUSTOMER" });
    expect(users.edges.map((e) => e.node.email)).toEqual(expect.arrayContaining([DEMO.admin.email, DEMO.staff.email, DEMO.customer.email]));
    for (const token of [staff, fresh.token]) {
      const res = await list(token);
      expect(codeOf(res)).toBe("FORBIDDEN");
      expect(res.data).toBeNull();
    }
  });

  it("a promoted customer acts as STAFF on the next request with the same token; own role is off limits", async () => {
    const product = await newProduct(5);
    const [promoted, buyer] = await Promise.all([signUp(server.app.url), signUp(server.app.url)]);
    const order = await placeOrder(buyer.token, [[product.id, 1]]);
    expect(codeOf(await setStatus(order, "PAID", promoted.token))).toBe("FORBIDDEN");

    const setRole = (userId: string, role: "CUSTOMER" | "STAFF", token: string) => request(server.app.url, SetUserRoleDocument, { userId, role }, token);
    expect(codeOf(await setRole(promoted.userId, "STAFF", staff))).toBe("FORBIDDEN");
    expect(ok(await setRole(promoted.userId, "STAFF", admin)).setUserRole).toEqual({ id: promoted.userId, role: "STAFF" });
    expect(ok(await setStatus(order, "PAID", promoted.token)).setOrderStatus.status).toBe("PAID");
    expect(ok(await request(server.app.url, OrderIdDocument, { id: order }, promoted.token)).order).toEqual({ id: order });

    ok(await setRole(promoted.userId, "CUSTOMER", admin));
    expect(codeOf(await setStatus(order, "SHIPPED", promoted.token))).toBe("FORBIDDEN");
    expect(await statusOf(order)).toBe("PAID");

    const me = ok(await request(server.app.url, MeRoleDocument, {}, admin)).me!;
    const own = await setRole(me.id, "CUSTOMER", admin);
    expect(codeOf(own)).toBe("BAD_USER_INPUT");
    expect(ok(await request(server.app.url, MeRoleDocument, {}, admin)).me?.role).toBe("ADMIN");
  });
});

describe("no N+1", () => {
  async function statements<R, V>(document: TypedDocumentNode<R, V>, variables: V, token: string) {
    const before = server.app.db.statementCount();
    const res = await gql<R>(server.app.url, textOf(document), variables as Record<string, unknown>, token);
    return { count: server.app.db.statementCount() - before, data: ok(res) };
  }

  it("orders with customers, items, products, categories and stock: same statements for 2 and 12 orders", async () => {
    const products = await Promise.all([0, 1, 2].map((c) => newProduct(100, c)));
    const buyers = await Promise.all(Array.from({ length: 12 }, (_, i) => signUp(server.app.url, `N1 Buyer ${i}`)));
    for (const [i, buyer] of buyers.entries()) {
      await placeOrder(buyer.token, products.slice(0, 2 + (i % 2)).map((p, j) => [p.id, 1 + j] as [string, number]));
    }
    const few = await statements(OrdersInDepthDocument, { first: 2 }, staff);
    const many = await statements(OrdersInDepthDocument, { first: 12 }, staff);
    expect(few.data.orders.edges).toHaveLength(2);
    expect(many.data.orders.edges).toHaveLength(12);
    const names = new Set(many.data.orders.edges.map((e) => e.node.customer.name));
    expect(names).toEqual(new Set(buyers.map((_, i) => `N1 Buyer ${i}`)));
    expect(many.data.orders.edges.flatMap((e) => e.node.items)).toHaveLength(30);
    expect(many.count).toBe(few.count);
    expect(many.count).toBeLessThanOrEqual(10);
  });

  it("users with their orders page: same statements for few and many users with orders", async () => {
    const product = await newProduct(100);
    const buyers = await Promise.all(Array.from({ length: 6 }, () => signUp(server.app.url)));
    for (const [i, buyer] of buyers.entries()) {
      for (let k = 0; k <= i % 3; k++) await placeOrder(buyer.token, [[product.id, 1]]);
    }
    const few = await statements(UsersWithOrdersDocument, { first: 3 }, admin);
    const many = await statements(UsersWithOrdersDocument, { first: 100 }, admin);
    const withOrders = (data: typeof few.data) => data.users.edges.filter((e) => e.node.orders.totalCount > 0).length;
    expect(withOrders(few.data)).toBeLessThanOrEqual(1); // seeded accounts: only the demo customer has orders
    expect(withOrders(many.data)).toBeGreaterThanOrEqual(6);
    const byId = new Map(many.data.users.edges.map((e) => [e.node.id, e.node.orders]));
    buyers.forEach((b, i) => {
      const orders = byId.get(b.userId)!;
      expect(orders.totalCount).toBe(1 + (i % 3));
      expect(orders.edges).toHaveLength(1 + (i % 3));
    });
    expect(many.count).toBe(few.count);
    expect(many.count).toBeLessThanOrEqual(8);
  });
});

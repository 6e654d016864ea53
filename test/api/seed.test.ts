import { expect, it } from "vitest";
import { DemoCustomerShopDocument } from "../generated/graphql.ts";
import { DEMO, logIn, request, useTestServer } from "../harness/index.ts";

const server = useTestServer();

it("the demo customer has a delivered order, an open order, a cart and notifications to look at", async () => {
  const token = await logIn(server.app.url, DEMO.customer);
  const res = await request(server.app.url, DemoCustomerShopDocument, {}, token);
  expect(res.errors).toBeUndefined();
  const data = res.data!;
  const orders = data.orders.edges.map((e) => e.node);
  expect(orders.map((o) => o.status).sort()).toEqual(["DELIVERED", "PLACED"]);
  for (const order of orders) {
    expect(order.number).toMatch(/^CW-\d{6}$/);
    const sum = order.items.reduce((s, i) => s + i.quantity * i.unitPrice.amountCents, 0);
    expect(order.total.amountCents).toBe(sum);
  }
  expect(data.cart.itemCount).toBeGreaterThan(0);
  // placed, paid, shipped, delivered for the first order (read), placed for the second (unread).
  expect(data.notifications.totalCount).toBe(5);
  expect(data.unread.totalCount).toBe(1);
  expect(data.notifications.edges.every((e) => e.node.category === "ORDER_UPDATES")).toBe(true);
});

it("after seeding, every product's stock equals the sum of its ledger", async () => {
  const mismatched = await server.app.db.sql.query(
      `SELECT l.product_id FROM stock_levels l
       LEFT JOIN (SELECT product_id, sum(delta) AS total FROM stock_movements GROUP BY product_id) m USING (product_id)
       WHERE l.on_hand <> coalesce(m.total, 0)`,
  );
  const sales = await server.app.db.sql.query(`SELECT count(*)::int AS n FROM stock_movements WHERE reason = 'SALE'`);
  expect(mismatched).toEqual([]);
  expect((sales[0] as { n: number }).n).toBeGreaterThan(0);
});

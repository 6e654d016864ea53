import { expect, it } from "vitest";
import { DEMO, gql, logIn, useTestServer } from "../harness/index.ts";

const server = useTestServer();

it("the demo customer has a delivered order, an open order, a cart and notifications to look at", async () => {
  const token = await logIn(server.app.url, DEMO.customer);
  const res = await gql(
    server.app.url,
    `{ orders { edges { node { number status items { quantity unitPrice { amountCents } } total { amountCents } } } }
       cart { itemCount }
       notifications { totalCount edges { node { category title readAt } } }
       unread: notifications(unreadOnly: true) { totalCount } }`,
    {},
    token,
  );
  expect(res.errors).toBeUndefined();
  const orders = res.data.orders.edges.map((e: any) => e.node);
  expect(orders.map((o: any) => o.status).sort()).toEqual(["DELIVERED", "PLACED"]);
  for (const order of orders) {
    expect(order.number).toMatch(/^CW-\d{6}$/);
    const sum = order.items.reduce((s: number, i: any) => s + i.quantity * i.unitPrice.amountCents, 0);
    expect(order.total.amountCents).toBe(sum);
  }
  expect(res.data.cart.itemCount).toBeGreaterThan(0);
  // placed, paid, shipped, delivered for the first order (read), placed for the second (unread).
  expect(res.data.notifications.totalCount).toBe(5);
  expect(res.data.unread.totalCount).toBe(1);
  expect(res.data.notifications.edges.every((e: any) => e.node.category === "ORDER_UPDATES")).toBe(true);
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

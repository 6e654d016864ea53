// Checkout against concurrent writers, made deterministic where it matters: the test holds a row
// lock in its own transaction, waits until the checkout is queued behind it, then commits.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { keyOf } from "../../src/lib/ids.ts";
import { AdjustStockDocument } from "../generated/graphql.ts";
import { DEMO, logIn, request, signUp, useTestServer } from "../harness/index.ts";
import { codeOf, shop, type TestProduct } from "../harness/shop.ts";

const server = useTestServer();

let staff: string;
beforeAll(async () => {
  staff = await logIn(server.app.url, DEMO.staff);
});

const { newProduct, addToCart, cartOf, checkout, stockOf, ledger, shoppers } = shop(server, () => staff);

/** Runs `hold` in a transaction of its own, then `whileHeld` once some statement waits for a lock `hold` took, then commits. */
async function holding<T>(hold: (query: (sql: string, params?: unknown[]) => Promise<unknown>) => Promise<void>, whileHeld: () => Promise<T>): Promise<T> {
  return server.app.db.sql.withConnection(async (conn) => {
    await conn.exec("BEGIN");
    try {
      await hold((sql, params) => conn.query(sql, params));
      const pending = whileHeld();
      pending.catch(() => {});
      await untilSomeoneWaits();
      await conn.exec("COMMIT");
      return await pending;
    } catch (error) {
      await conn.exec("ROLLBACK").catch(() => {});
      throw error;
    }
  });
}

async function untilSomeoneWaits(): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    const [row] = await server.app.db.sql.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if ((row as { n: number }).n > 0) return;
    await sleep(20);
  }
  throw new Error("nothing waited for the held lock within 10 s");
}

/** What a failed checkout must leave as it was: stock, ledger, orders, notifications, outbox, cart. */
async function snapshot(token: string, userKey: string, products: TestProduct[]) {
  const [row] = await server.app.db.sql.query(
    `SELECT (SELECT count(*)::int FROM orders WHERE user_id = $1::uuid) AS orders,
            (SELECT count(*)::int FROM notifications WHERE user_id = $1::uuid) AS notifications,
            (SELECT position::float8 FROM outbox_head WHERE id = 1) AS outbox`,
    [userKey],
  );
  const counts = row as { orders: number; notifications: number; outbox: number };
  return { ...counts, cart: await cartOf(token), ledgers: await Promise.all(products.map((p) => ledger(p.key))) };
}

/** Three fresh products sorted by key (the order checkout locks their stock in). */
async function threeProducts(stock: number): Promise<TestProduct[]> {
  const products = await Promise.all([newProduct(stock), newProduct(stock), newProduct(stock)]);
  return products.sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe("a line that cannot be served fails the whole checkout", () => {
  it("when it runs short while the checkout waits for its stock row: the other lines' stock is given back, nothing is written", async () => {
    const [first, middle, last] = await threeProducts(5);
    const { token, userId } = await signUp(server.app.url);
    const userKey = keyOf(userId, "User")!;
    // Added out of key order: the lock order must not depend on the cart's order.
    for (const p of [last!, first!, middle!]) expect((await addToCart(token, p.id, 2)).errors).toBeUndefined();
    const before = await snapshot(token, userKey, [first!, middle!, last!]);

    // Someone else takes 4 of the middle product (with its ledger row) and commits only once the
    // checkout, which saw 5 when it took the cart, is waiting for that row.
    const res = await holding(
      async (query) => {
        await query(`UPDATE stock_levels SET on_hand = on_hand - 4, version = version + 1 WHERE product_id = $1::uuid`, [middle!.key]);
        await query(`INSERT INTO stock_movements (product_id, delta, reason) VALUES ($1::uuid, -4, 'ADJUSTMENT')`, [middle!.key]);
      },
      () => checkout(token, `short-late-${randomUUID()}`),
    );

    expect(codeOf(res)).toBe("INSUFFICIENT_STOCK");
    expect(res.errors![0]!.message).toContain(middle!.name);
    expect(res.errors![0]!.extensions).toMatchObject({ productId: middle!.id, available: 1, requested: 2 });
    expect(await Promise.all([first!, middle!, last!].map((p) => stockOf(p.id)))).toEqual([5, 1, 5]);
    const after = await snapshot(token, userKey, [first!, middle!, last!]);
    expect(after).toEqual({
      ...before,
      ledgers: [before.ledgers[0], { ...before.ledgers[1], total: 1, onHand: 1 }, before.ledgers[2]],
    });
  });

  it("when it is short already as the cart is taken: the same answer, nothing written", async () => {
    const [first, middle, last] = await threeProducts(5);
    const { token, userId } = await signUp(server.app.url);
    const userKey = keyOf(userId, "User")!;
    for (const p of [last!, first!]) expect((await addToCart(token, p.id, 2)).errors).toBeUndefined();
    expect((await addToCart(token, middle!.id, 4)).errors).toBeUndefined();
    expect(await adjust(middle!, -2)).toBe(3);
    const before = await snapshot(token, userKey, [first!, middle!, last!]);

    const statements = server.app.db.statementCount();
    const res = await checkout(token, `short-early-${randomUUID()}`);
    // Session and user, the cart, ROLLBACK, the look-up of the key: no order written, no stock locked.
    expect(server.app.db.statementCount() - statements).toBe(5);
    expect(codeOf(res)).toBe("INSUFFICIENT_STOCK");
    expect(res.errors![0]!.message).toContain(middle!.name);
    expect(res.errors![0]!.extensions).toMatchObject({ productId: middle!.id, available: 3, requested: 4 });
    expect(await snapshot(token, userKey, [first!, middle!, last!])).toEqual(before);
  });
});

/** Staff adjust `product`'s stock by `delta`; returns the new figure. */
async function adjust(product: TestProduct, delta: number): Promise<number> {
  const res = await request(server.app.url, AdjustStockDocument, { productId: product.id, delta }, staff);
  expect(res.errors).toBeUndefined();
  return res.data!.adjustStock.stock;
}

describe("the cart checkout takes", () => {
  it("includes a change that committed while the checkout waited for the cart", async () => {
    const [a, b] = await threeProducts(5);
    const { token, userId } = await signUp(server.app.url);
    const userKey = keyOf(userId, "User")!;
    expect((await addToCart(token, a!.id, 1)).errors).toBeUndefined();
    const before = await cartOf(token);

    // A cart change as the cart service makes one (version first, then the line), committed once
    // the checkout waits for the cart row: the checkout's snapshot had only the first line.
    const res = await holding(
      async (query) => {
        await query(`UPDATE carts SET version = version + 1 WHERE user_id = $1::uuid`, [userKey]);
        await query(`INSERT INTO cart_items (cart_id, product_id, quantity) SELECT id, $2::uuid, 3 FROM carts WHERE user_id = $1::uuid`, [userKey, b!.key]);
      },
      () => checkout(token, `changed-${randomUUID()}`),
    );

    expect(res.errors).toBeUndefined();
    const items = res.data!.checkout.items.map((i) => [i.product.id, i.quantity]).sort();
    expect(items).toEqual([[a!.id, 1], [b!.id, 3]].sort());
    const cart = await cartOf(token);
    expect(cart).toMatchObject({ version: before.version + 2, items: [] });
    expect(await Promise.all([a!, b!].map((p) => stockOf(p.id)))).toEqual([4, 2]);
  });

  it("is taken once when one customer checks out with several keys at once", { timeout: 60_000 }, async () => {
    const product = await newProduct(10);
    const [token] = await shoppers(1, [[product, 2]]);
    const results = await Promise.all(Array.from({ length: 10 }, () => checkout(token!, `many-keys-${randomUUID()}`)));
    const placed = results.filter((r) => r.data?.checkout);
    expect(placed).toHaveLength(1);
    for (const r of results.filter((x) => !x.data?.checkout)) {
      expect(codeOf(r)).toBe("BAD_USER_INPUT");
      expect(r.errors![0]!.message).toContain("empty");
    }
    expect(await ledger(product.key)).toEqual({ total: 8, sales: -2, saleRows: 1, onHand: 8 });
  });
});

describe("lock order", () => {
  it("checkouts of the same two lines, added in opposite orders, all complete (no deadlock)", { timeout: 90_000 }, async () => {
    const [a, b] = await threeProducts(100);
    const customers = await Promise.all(Array.from({ length: 24 }, (_, i) => signUp(server.app.url).then((u) => ({ token: u.token, lines: i % 2 ? [b!, a!] : [a!, b!] }))));
    for (let round = 0; round < 2; round++) {
      for (const { token, lines } of customers) {
        for (const p of lines) expect((await addToCart(token, p.id, 1)).errors).toBeUndefined();
      }
      const results = await Promise.all(customers.map(({ token }) => checkout(token, `deadlock-${round}-${randomUUID()}`)));
      expect(results.map((r) => r.errors?.[0]?.message ?? "placed")).toEqual(customers.map(() => "placed"));
    }
    expect(await ledger(a!.key)).toEqual({ total: 52, sales: -48, saleRows: 48, onHand: 52 });
    expect(await ledger(b!.key)).toEqual({ total: 52, sales: -48, saleRows: 48, onHand: 52 });
  });
});

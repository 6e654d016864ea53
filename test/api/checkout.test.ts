import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { orderNumber } from "../../src/modules/orders/orders.service.ts";
import { CartDocument, CheckoutNumberDocument, ClearCartLinesDocument, OrderLinesByIdDocument, UpdateProductPriceReadDocument } from "../generated/graphql.ts";
import { DEMO, logIn, request, signUp, useTestServer, type GqlResponse } from "../harness/index.ts";
import { codeOf, shop, type TestProduct } from "../harness/shop.ts";

const server = useTestServer();

let staff: string;

beforeAll(async () => {
  staff = await logIn(server.app.url, DEMO.staff);
});

const { newProduct, addToCart, setQuantity, cartOf, checkout, stockOf, ledger, shoppers } = shop(server, () => staff);

describe("checkout under contention", () => {
  it("never oversells a single line: 50 checkouts for 10 units", { timeout: 90_000 }, async () => {
    const product = await newProduct(10);
    const tokens = await shoppers(50, [[product, 1]]);
    const results = await Promise.all(tokens.map((t) => checkout(t, `oversell-${randomUUID()}`)));

    const won = results.filter((r) => r.data?.checkout);
    const lost = results.filter((r) => !r.data?.checkout);
    expect(won).toHaveLength(10);
    expect(lost).toHaveLength(40);
    for (const r of lost) {
      expect(r.errors).toHaveLength(1);
      expect(codeOf(r)).toBe("INSUFFICIENT_STOCK");
      expect(r.errors![0]!.message).toContain(product.name);
      expect(r.errors![0]!.extensions).toMatchObject({ productId: product.id, available: 0, requested: 1 });
    }
    for (const r of won) {
      expect(r.data!.checkout.status).toBe("PLACED");
      expect(r.data!.checkout.number).toMatch(/^CW-\d{6,}$/);
      expect(r.data!.checkout.items).toEqual([expect.objectContaining({ quantity: 1, unitPrice: { amountCents: 1_250 } })]);
    }
    expect(new Set(won.map((r) => r.data!.checkout.number)).size).toBe(10);
    expect(new Set(won.map((r) => r.data!.checkout.id)).size).toBe(10);

    expect(await stockOf(product.id)).toBe(0);
    expect(await ledger(product.key)).toEqual({ total: 0, sales: -10, saleRows: 10, onHand: 0 });
    const [orders] = await server.app.db.sql.query(
      `SELECT count(DISTINCT o.id)::int AS n, count(DISTINCT o.number)::int AS numbers
       FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1::uuid`,
      [product.key],
    );
    expect(orders).toEqual({ n: 10, numbers: 10 });

    // Losers keep their cart line; winners' carts are empty.
    const carts = await Promise.all(tokens.map(cartOf));
    carts.forEach((cart, i) => {
      if (results[i]!.data?.checkout) expect(cart.items).toEqual([]);
      else expect(cart.items).toEqual([{ quantity: 1, product: { id: product.id } }]);
    });
  });

  it("never places a partial order: two lines, the scarce one decides", { timeout: 60_000 }, async () => {
    const plenty = await newProduct(100);
    const scarce = await newProduct(3);
    const tokens = await shoppers(10, [[plenty, 1], [scarce, 1]]);
    const before = await Promise.all(tokens.map(cartOf));
    const results = await Promise.all(tokens.map((t) => checkout(t, `multi-${randomUUID()}`)));

    const won = results.filter((r) => r.data?.checkout);
    expect(won).toHaveLength(3);
    for (const r of won) {
      const ids = r.data!.checkout.items.map((i) => i.product.id).sort();
      expect(ids).toEqual([plenty.id, scarce.id].sort());
      expect(r.data!.checkout.total.amountCents).toBe(2 * 1_250);
    }
    for (const r of results.filter((x) => !x.data?.checkout)) {
      expect(codeOf(r)).toBe("INSUFFICIENT_STOCK");
      expect(r.errors![0]!.message).toContain(scarce.name);
      expect(r.errors![0]!.extensions.productId).toBe(scarce.id);
    }

    expect(await stockOf(plenty.id)).toBe(97);
    expect(await stockOf(scarce.id)).toBe(0);
    expect(await ledger(plenty.key)).toEqual({ total: 97, sales: -3, saleRows: 3, onHand: 97 });
    expect(await ledger(scarce.key)).toEqual({ total: 0, sales: -3, saleRows: 3, onHand: 0 });
    const lines = await server.app.db.sql.query(
      `SELECT o.id, count(*)::int AS n FROM orders o JOIN order_items i ON i.order_id = o.id
       WHERE o.id IN (SELECT order_id FROM order_items WHERE product_id = ANY($1::uuid[])) GROUP BY o.id`,
      [[plenty.key, scarce.key]],
    );
    expect(lines.map((l) => l.n)).toEqual([2, 2, 2]);

    const after = await Promise.all(tokens.map(cartOf));
    after.forEach((cart, i) => {
      if (results[i]!.data?.checkout) expect(cart.items).toEqual([]);
      else expect(cart).toEqual(before[i]);
    });
  });
});

describe("idempotent checkout", () => {
  it("20 concurrent retries of one key place one order; the key is bound to its cart", { timeout: 60_000 }, async () => {
    const product = await newProduct(10, 700);
    const other = await newProduct(5, 300);
    const { token } = await signUp(server.app.url);
    expect((await addToCart(token, product.id, 2)).errors).toBeUndefined();
    const key = `retry-${randomUUID()}`;

    const results = await Promise.all(Array.from({ length: 20 }, () => checkout(token, key)));
    for (const r of results) expect(r.errors).toBeUndefined();
    const first = results[0]!.data!.checkout;
    expect(first.total.amountCents).toBe(1_400);
    for (const r of results) expect({ id: r.data!.checkout.id, number: r.data!.checkout.number }).toEqual({ id: first.id, number: first.number });

    const [rows] = await server.app.db.sql.query(`SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1`, [key]);
    expect(rows).toEqual({ n: 1 });
    expect(await stockOf(product.id)).toBe(8);
    expect(await ledger(product.key)).toEqual({ total: 8, sales: -2, saleRows: 1, onHand: 8 });

    // Retried after the cart was emptied by the first success: same order.
    expect((await cartOf(token)).items).toEqual([]);
    const again = await checkout(token, key);
    expect(again.errors).toBeUndefined();
    expect(again.data!.checkout.id).toBe(first.id);

    // The same key with a different cart: CONFLICT, nothing taken.
    expect((await addToCart(token, other.id, 1)).errors).toBeUndefined();
    const cartBefore = await cartOf(token);
    const conflict = await checkout(token, key);
    expect(codeOf(conflict)).toBe("CONFLICT");
    expect(await cartOf(token)).toEqual(cartBefore);
    expect(await stockOf(other.id)).toBe(5);

    // A new key places a new order.
    const fresh = await checkout(token, `retry-${randomUUID()}`);
    expect(fresh.errors).toBeUndefined();
    expect(fresh.data!.checkout.id).not.toBe(first.id);
    expect(fresh.data!.checkout.number).not.toBe(first.number);
    expect(fresh.data!.checkout.items).toEqual([{ quantity: 1, unitPrice: { amountCents: 300 }, product: { id: other.id, stock: 4 } }]);
    expect(await ledger(product.key)).toEqual({ total: 8, sales: -2, saleRows: 1, onHand: 8 });
  });
});

describe("idempotent checkout, cart refilled", () => {
  it("the key with the same lines again returns its order, takes nothing, keeps the cart and draws no number", async () => {
    const product = await newProduct(10, 400);
    const { token } = await signUp(server.app.url);
    expect((await addToCart(token, product.id, 2)).errors).toBeUndefined();
    const key = `refill-${randomUUID()}`;
    const first = await checkout(token, key);
    expect(first.errors).toBeUndefined();

    expect((await addToCart(token, product.id, 2)).errors).toBeUndefined();
    const cart = await cartOf(token);
    const again = await checkout(token, key);
    expect(again.errors).toBeUndefined();
    expect(again.data!.checkout.id).toBe(first.data!.checkout.id);
    expect(await cartOf(token)).toEqual(cart);
    expect(await ledger(product.key)).toEqual({ total: 8, sales: -2, saleRows: 1, onHand: 8 });

    // The next order's number follows the first one's: the replay drew none.
    const next = await checkout(token, `refill-${randomUUID()}`);
    expect(next.errors).toBeUndefined();
    const seq = (number: string) => Number(number.slice("CW-".length));
    expect(seq(next.data!.checkout.number)).toBe(seq(first.data!.checkout.number) + 1);
  });
});

describe("cart rules", () => {
  it("refuses bad changes without touching the cart; each change is one version", async () => {
    const product = await newProduct(120, 199);
    const scarce = await newProduct(2);
    const draft = await newProduct(0, 500, "DRAFT");
    const { token } = await signUp(server.app.url);

    const anonymous = await request(server.app.url, CartDocument);
    expect(codeOf(anonymous)).toBe("UNAUTHENTICATED");
    expect(codeOf(await checkout(token, `empty-${randomUUID()}`))).toBe("BAD_USER_INPUT");

    let cart = await cartOf(token);
    type Field = "addToCart" | "setCartItemQuantity" | "clearCart";
    type Cart = Awaited<ReturnType<typeof cartOf>>;
    const refused = async (res: GqlResponse<Partial<Record<Field, unknown>>>, code: string, names?: string) => {
      expect(res.data?.addToCart ?? res.data?.setCartItemQuantity ?? null).toBeNull();
      expect(codeOf(res)).toBe(code);
      if (names) expect(res.errors![0]!.message).toContain(names);
      expect(await cartOf(token)).toEqual(cart);
    };
    const accepted = async (res: GqlResponse<Partial<Record<Field, Cart>>>, field: Field) => {
      expect(res.errors).toBeUndefined();
      const next = res.data![field]!;
      expect(next.version).toBe(cart.version + 1);
      expect(next.id).toBe(cart.id);
      expect(await cartOf(token)).toEqual(next);
      cart = next;
      return next;
    };

    await refused(await addToCart(token, product.id, 0), "BAD_USER_INPUT");
    await refused(await addToCart(token, product.id, 100), "BAD_USER_INPUT");
    await refused(await addToCart(token, draft.id, 1), "BAD_USER_INPUT");
    const tooMany = await addToCart(token, scarce.id, 3);
    await refused(tooMany, "INSUFFICIENT_STOCK", scarce.name);
    expect(tooMany.errors![0]!.extensions).toMatchObject({ productId: scarce.id, available: 2, requested: 3 });

    let next = await accepted(await addToCart(token, product.id, 60), "addToCart");
    expect(next.items).toEqual([{ quantity: 60, product: { id: product.id } }]);
    expect(next.subtotal.amountCents).toBe(60 * 199);
    await refused(await addToCart(token, product.id, 40), "BAD_USER_INPUT");
    next = await accepted(await addToCart(token, product.id, 39), "addToCart");
    expect(next.itemCount).toBe(99);
    await refused(await addToCart(token, product.id, 1), "BAD_USER_INPUT");
    await refused(await setQuantity(token, product.id, 100), "BAD_USER_INPUT");

    next = await accepted(await addToCart(token, scarce.id, 2), "addToCart");
    expect(next.itemCount).toBe(101);
    await refused(await addToCart(token, scarce.id, 1), "INSUFFICIENT_STOCK", scarce.name);

    next = await accepted(await setQuantity(token, product.id, 5), "setCartItemQuantity");
    expect(next.items).toEqual([
      { quantity: 5, product: { id: product.id } },
      { quantity: 2, product: { id: scarce.id } },
    ]);
    expect(next.subtotal.amountCents).toBe(5 * 199 + 2 * 1_250);
    next = await accepted(await setQuantity(token, product.id, 0), "setCartItemQuantity");
    expect(next.items).toEqual([{ quantity: 2, product: { id: scarce.id } }]);

    const cleared = await request(server.app.url, ClearCartLinesDocument, {}, token);
    next = await accepted(cleared, "clearCart");
    expect(next).toMatchObject({ items: [], itemCount: 0, subtotal: { amountCents: 0 } });
    expect(codeOf(await checkout(token, `empty-${randomUUID()}`))).toBe("BAD_USER_INPUT");
    expect(await ledger(product.key)).toEqual({ total: 120, sales: 0, saleRows: 0, onHand: 120 });
  });
});

describe("orders keep checkout prices", () => {
  it("a later price change does not alter a placed order", async () => {
    const product = await newProduct(5, 2_000);
    const { token } = await signUp(server.app.url);
    expect((await addToCart(token, product.id, 3)).errors).toBeUndefined();
    const placed = await checkout(token, `price-${randomUUID()}`);
    expect(placed.errors).toBeUndefined();
    const order = placed.data!.checkout;
    expect(order.total.amountCents).toBe(6_000);

    const patched = await request(server.app.url, UpdateProductPriceReadDocument, { id: product.id, priceCents: 900 }, staff);
    expect(patched.errors).toBeUndefined();
    expect(patched.data?.updateProduct.price.amountCents).toBe(900);

    const read = await request(server.app.url, OrderLinesByIdDocument, { id: order.id }, token);
    expect(read.errors).toBeUndefined();
    expect(read.data?.order).toEqual({ ...order, items: [{ quantity: 3, unitPrice: { amountCents: 2_000 }, product: { id: product.id, stock: 2 } }] });
  });
});

describe("checkout statements", () => {
  /** Statements the server's Prisma client sent for one `checkout { id number }` request, and its answer. */
  async function counted(token: string, key: string) {
    const before = server.app.db.statementCount();
    const res = await request(server.app.url, CheckoutNumberDocument, { idempotencyKey: key }, token);
    return { res, statements: server.app.db.statementCount() - before };
  }

  it("placing an order costs 7 statements, for 1 line as for 5; replaying its key costs 5", async () => {
    const products = await Promise.all(Array.from({ length: 5 }, () => newProduct(4)));
    const [single] = await shoppers(1, [[products[0]!, 1]]);
    const [multi] = await shoppers(1, products.map((p): [TestProduct, number] => [p, 2]));

    // The counter counts what Prisma reports: COMMIT is one, BEGIN is not reported. Per request:
    // the access token's session and user (2), then the transaction: take the cart with its
    // lines, products and stock; insert the order with its items and notification; take the
    // stock with its ledger rows; the outbox; COMMIT.
    const one = await counted(single!, `count-${randomUUID()}`);
    expect(one.res.errors).toBeUndefined();
    expect(one.statements).toBe(7);
    const five = await counted(multi!, `count-${randomUUID()}`);
    expect(five.res.errors).toBeUndefined();
    expect(five.statements).toBe(7);
    expect(await Promise.all(products.map((p) => stockOf(p.id)))).toEqual([1, 2, 2, 2, 2]);

    // A retry after success: session and user, the cart (empty, rolled back), ROLLBACK, the lookup.
    const key = `count-replay-${randomUUID()}`;
    const [again] = await shoppers(1, [[products[1]!, 1]]);
    const placed = await counted(again!, key);
    expect(placed.statements).toBe(7);
    const replay = await counted(again!, key);
    expect(replay.res.data!.checkout).toEqual(placed.res.data!.checkout);
    expect(replay.statements).toBe(5);
  });
});

describe("order numbers", () => {
  it("are CW- and the order's seq padded to six digits, as orderNumber() writes them, also past six digits", async () => {
    const product = await newProduct(5);
    const [token] = await shoppers(1, [[product, 1]]);
    const placed = await checkout(token!, `number-${randomUUID()}`);
    expect(placed.errors).toBeUndefined();
    // Far ahead, in this test file's own database: the next number has seven digits.
    await server.app.db.sql.query(`SELECT setval(pg_get_serial_sequence('orders', 'seq'), 1234566)`);
    expect((await addToCart(token!, product.id, 1)).errors).toBeUndefined();
    const longer = await checkout(token!, `number-${randomUUID()}`);
    expect(longer.data!.checkout.number).toBe("CW-1234567");
    const rows = await server.app.db.sql.query(`SELECT seq, number FROM orders`);
    expect(rows.length).toBeGreaterThan(2);
    for (const row of rows) expect(row.number).toBe(orderNumber(row.seq as number));
  });
});

import { beforeAll, describe, expect, it } from "vitest";
import { keyOf } from "../../src/lib/ids.ts";
import { CartUpdatedDocument, CartWithUpdatedAtDocument, ClearCartDocument } from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import {
  logIn,
  nextWithin,
  ok,
  request,
  signUp,
  someProducts,
  uniquePrefix,
  subscribe,
  useTestServer,
  waitForSubscribers,
  wsClient,
  type GqlResponse,
} from "../harness/index.ts";

// Through Redis, so that a test can wait until its cartUpdated subscription is really live.
const prefix = uniquePrefix();
const server = useTestServer({ redisPrefix: prefix });

type Product = { id: string; name: string; stock: number };
let products: Product[];

beforeAll(async () => {
  products = await someProducts(server.app.url, 12);
});

const addToCart = (token: string, productId: string, quantity: number, expectedVersion?: number | null) =>
  fixtures.addToCart(server.app.url, token, productId, quantity, expectedVersion);

const setQuantity = (token: string, productId: string, quantity: number, expectedVersion?: number | null) =>
  fixtures.setCartItemQuantity(server.app.url, token, productId, quantity, expectedVersion);

const clearCart = (token: string, expectedVersion?: number | null) =>
  request(server.app.url, ClearCartDocument, { expectedVersion }, token);

/** The mutation's cart; fails the test with the errors when it was refused. */
function cartOf<C>(res: GqlResponse<Record<string, C>>): C {
  return Object.values(ok(res))[0]!;
}

async function currentCart(token: string) {
  return ok(await request(server.app.url, CartWithUpdatedAtDocument, {}, token)).cart;
}

/** Asserts a CONFLICT carrying `cart` as the contract shapes it; returns the error. */
function expectConflict(res: GqlResponse, cart: { version: number; items: { productId: string; quantity: number }[] }) {
  expect(res.errors, JSON.stringify(res)).toHaveLength(1);
  const [error] = res.errors!;
  expect(error!.extensions.code).toBe("CONFLICT");
  expect(error!.extensions.cart).toEqual(cart);
  // A field error like every other CONFLICT (signUp, checkout): HTTP 200, no data.
  expect(res.status).toBe(200);
  expect(res.data).toBeNull();
  return error!;
}

describe("cart changes with expectedVersion", () => {
  it("with the current version each change applies and the version goes up by one", async () => {
    const [p1, p2] = products;
    const u = await signUp(server.app.url, "In Sync");
    const added = cartOf(await addToCart(u.token, p1!.id, 2, 0));
    expect(added).toMatchObject({ version: 1, items: [{ quantity: 2, product: { id: p1!.id } }] });
    expect(cartOf(await setQuantity(u.token, p1!.id, 3, 1))).toMatchObject({ version: 2, itemCount: 3 });
    expect(cartOf(await addToCart(u.token, p2!.id, 1, 2))).toMatchObject({ version: 3, itemCount: 4 });
    expect(cartOf(await setQuantity(u.token, p2!.id, 0, 3))).toMatchObject({ version: 4, items: [{ quantity: 3, product: { id: p1!.id } }] });
    expect(cartOf(await clearCart(u.token, 4))).toEqual({ id: added.id, version: 5, itemCount: 0, items: [], subtotal: { amountCents: 0 } });
    expect(await currentCart(u.token)).toMatchObject({ id: added.id, version: 5, items: [] });
  });

  it("expectedVersion 0 works for a user who never had a cart, and for one whose cart was only read", async () => {
    const [p1] = products;
    const never = await signUp(server.app.url, "Never Had A Cart");
    expect(cartOf(await addToCart(never.token, p1!.id, 1, 0))).toMatchObject({ version: 1, itemCount: 1 });

    const reader = await signUp(server.app.url, "Only Looked");
    expect((await currentCart(reader.token)).version).toBe(0);
    expect(cartOf(await clearCart(reader.token, 0))).toMatchObject({ version: 1, items: [] });

    // A cart that was never created is version 0 with no lines: any other version is stale.
    const fresh = await signUp(server.app.url, "Thinks It Has A Cart");
    expectConflict(await setQuantity(fresh.token, p1!.id, 2, 3), { version: 0, items: [] });
    expect(await currentCart(fresh.token)).toMatchObject({ version: 0, items: [] });
  });

  it("a stale expectedVersion is a CONFLICT with the current cart; nothing is written and no cartUpdated is sent", async () => {
    const [p1, p2, p3] = products;
    const u = await signUp(server.app.url, "Offline Device");
    cartOf(await addToCart(u.token, p1!.id, 2));
    cartOf(await addToCart(u.token, p2!.id, 1));
    const before = await currentCart(u.token);
    expect(before.version).toBe(2);
    const current = {
      version: 2,
      items: [
        { productId: p1!.id, quantity: 2 },
        { productId: p2!.id, quantity: 1 },
      ],
    };

    const client = wsClient(server.app.wsUrl, u.token);
    const events = subscribe(client, CartUpdatedDocument);
    try {
      await waitForSubscribers(`${prefix}CART_UPDATED:${keyOf(u.userId, "User")}`);

      const stale = expectConflict(await addToCart(u.token, p3!.id, 1, 1), current);
      expect(stale.message).toMatch(/version 2/);
      expectConflict(await addToCart(u.token, p1!.id, 1, 0), current);
      expectConflict(await setQuantity(u.token, p1!.id, 5, 1), current);
      expectConflict(await setQuantity(u.token, p2!.id, 0, 0), current);
      expectConflict(await clearCart(u.token, 1), current);
      // A version the cart has not reached is no better than an old one.
      expectConflict(await clearCart(u.token, 3), current);
      // Stale and also refusable (a quantity over stock): the CONFLICT comes first.
      expectConflict(await setQuantity(u.token, p3!.id, Math.min(99, p3!.stock + 1), 1), current);

      // Nothing was written: same version, lines and updatedAt (a rolled-back bump would show).
      expect(await currentCart(u.token)).toEqual(before);

      // Had any refused attempt emitted, its event would arrive before this change's.
      const cleared = cartOf(await clearCart(u.token, 2));
      expect(cleared).toMatchObject({ version: 3, items: [] });
      expect((await nextWithin(events)).data?.cartUpdated).toEqual(cleared);
    } finally {
      await events.return?.();
      await client.dispose();
    }
  });

  it("two devices racing: of 10 concurrent changes against one version exactly one applies, the others get CONFLICT", async () => {
    const u = await signUp(server.app.url, "Two Devices");
    const second = await logIn(server.app.url, { email: u.email, password: "correct horse battery" });
    const [first, ...racers] = products.slice(0, 11);
    const start = cartOf(await addToCart(u.token, first!.id, 1, 0));
    expect(start.version).toBe(1);

    const results = await Promise.all(racers.map((p, i) => addToCart(i % 2 ? second : u.token, p.id, 1, 1)));
    const won = results.filter((r) => !r.errors);
    const lost = results.filter((r) => r.errors);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(racers.length - 1);
    const winner = cartOf(won[0]!);
    expect(winner.version).toBe(2);
    const winnerLine = winner.items[1];
    expect(winner.items).toEqual([{ quantity: 1, product: { id: first!.id } }, winnerLine]);

    // Every loser waited for the winner's commit and was shown the cart it left.
    const committed = { version: 2, items: winner.items.map((l) => ({ productId: l.product.id, quantity: l.quantity })) };
    for (const r of lost) expectConflict(r, committed);
    expect(await currentCart(u.token)).toMatchObject({ version: 2, items: winner.items });
  });

  it("checkout moves the version on: a change made against the cart before checkout is a CONFLICT with the empty cart", async () => {
    const [p1] = products;
    const u = await signUp(server.app.url, "Checked Out Elsewhere");
    cartOf(await addToCart(u.token, p1!.id, 1, 0));
    const placed = await fixtures.checkout(server.app.url, u.token);
    expect(placed.errors).toBeUndefined();
    expectConflict(await addToCart(u.token, p1!.id, 1, 1), { version: 2, items: [] });
    expect(cartOf(await addToCart(u.token, p1!.id, 1, 2))).toMatchObject({ version: 3, itemCount: 1 });
  });

  it("a negative expectedVersion is BAD_USER_INPUT and changes nothing", async () => {
    const [p1] = products;
    const u = await signUp(server.app.url, "Negative");
    cartOf(await addToCart(u.token, p1!.id, 1));
    const before = await currentCart(u.token);
    for (const res of [await addToCart(u.token, p1!.id, 1, -1), await setQuantity(u.token, p1!.id, 2, -1), await clearCart(u.token, -1)]) {
      expect(res.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", argument: "expectedVersion" });
    }
    // Not an Int at all: refused by GraphQL before the resolver runs.
    expect((await clearCart(u.token, 1.5 as number)).errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    expect(await currentCart(u.token)).toEqual(before);
  });

  it("without expectedVersion (omitted or null) the last writer wins, as before", async () => {
    const product = products.find((p) => p.stock >= 10)!;
    const u = await signUp(server.app.url, "Last Writer");
    cartOf(await addToCart(u.token, product.id, 1));
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => addToCart(u.token, product.id, 1, i % 2 ? null : undefined)));
    const versions = results.map((r) => cartOf(r).version).sort((a, b) => a - b);
    expect(versions).toEqual([2, 3, 4, 5, 6, 7]);
    expect(await currentCart(u.token)).toMatchObject({ version: 7, items: [{ quantity: 7, product: { id: product.id } }] });
    expect(cartOf(await clearCart(u.token))).toMatchObject({ version: 8, items: [] });
  });
});

import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { keyOf, toGlobalId } from "../../src/lib/ids.ts";
import {
  CancelOrderWithStockDocument,
  InboxDocument,
  MarkNotificationReadDocument,
  NotificationNodeDocument,
  NotificationPreferencesDocument,
  NotificationReceivedDocument,
  RenameProductDocument,
  SetNotificationPreferenceDocument,
  type NoteFieldsFragment as Note,
  type NotificationCategory as Category,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import {
  DEMO,
  codeOf,
  logIn,
  nextWithin,
  ok,
  request,
  signUp,
  subscribe,
  uniquePrefix,
  useTestServer,
  waitForSubscribers,
  wsClient,
} from "../harness/index.ts";

// Events go through Redis so a test can wait until a subscription is really listening.
const prefix = uniquePrefix();
const server = useTestServer({ redisPrefix: prefix });

let staff: string;

beforeAll(async () => {
  staff = await logIn(server.app.url, DEMO.staff);
});

/** A fresh ACTIVE product with `stock` units. */
const newProduct = (stock: number, priceCents = 2_000) => fixtures.newProduct(server.app.url, staff, { stock, priceCents, label: "notif" });

const adjust = (productId: string, delta: number): Promise<number> => fixtures.adjustStock(server.app.url, staff, productId, delta);

const setPrice = (productId: string, priceCents: number): Promise<void> => fixtures.setPrice(server.app.url, staff, productId, priceCents);

async function addToCart(token: string, productId: string, quantity = 1): Promise<void> {
  ok(await fixtures.addToCart(server.app.url, token, productId, quantity));
}

async function setPref(token: string, category: Category, enabled: boolean): Promise<void> {
  const res = await request(server.app.url, SetNotificationPreferenceDocument, { category, enabled }, token);
  expect(ok(res).setNotificationPreference).toEqual({ category, enabled });
}

async function inbox(token: string, unreadOnly = false): Promise<{ totalCount: number; notes: Note[] }> {
  const { notifications } = ok(await request(server.app.url, InboxDocument, { unreadOnly }, token));
  return { totalCount: notifications.totalCount, notes: notifications.edges.map((e) => e.node) };
}

async function ofCategory(token: string, category: Category): Promise<Note[]> {
  const { totalCount, notes } = await inbox(token);
  expect(notes).toHaveLength(totalCount);
  return notes.filter((n) => n.category === category);
}

async function checkout(token: string): Promise<{ id: string; number: string }> {
  return ok(await fixtures.checkout(server.app.url, token)).checkout;
}

const markRead = (id: string, token: string) => request(server.app.url, MarkNotificationReadDocument, { id }, token);

describe("preferences", () => {
  it("lists all four categories with their defaults, and remembers changes", async () => {
    const user = await signUp(server.app.url);
    const prefs = async (token = user.token) => ok(await request(server.app.url, NotificationPreferencesDocument, {}, token)).notificationPreferences;
    expect(await prefs()).toEqual([
      { category: "ORDER_UPDATES", enabled: true },
      { category: "BACK_IN_STOCK", enabled: true },
      { category: "PRICE_DROPS", enabled: true },
      { category: "PROMOTIONS", enabled: false },
    ]);
    await setPref(user.token, "BACK_IN_STOCK", false);
    await setPref(user.token, "PROMOTIONS", true);
    const after = Object.fromEntries((await prefs()).map((p) => [p.category, p.enabled]));
    expect(after).toEqual({ ORDER_UPDATES: true, BACK_IN_STOCK: false, PRICE_DROPS: true, PROMOTIONS: true });
    // Another user's defaults are untouched.
    const other = await signUp(server.app.url);
    const theirs = await prefs(other.token);
    expect(theirs.find((p) => p.category === "BACK_IN_STOCK")?.enabled).toBe(true);
    expect(codeOf(await request(server.app.url, NotificationPreferencesDocument))).toBe("UNAUTHENTICATED");
  });
});

describe("BACK_IN_STOCK", () => {
  it("stock 0 -> >0 notifies exactly the cart holders who kept it enabled", async () => {
    const product = await newProduct(1);
    const other = await newProduct(3);
    const [x, y, z] = await Promise.all([signUp(server.app.url), signUp(server.app.url), signUp(server.app.url)]);
    await addToCart(x.token, product.id);
    await addToCart(y.token, product.id);
    await addToCart(z.token, other.id); // Z's cart holds something else
    await setPref(x.token, "BACK_IN_STOCK", false);

    expect(await adjust(product.id, -1)).toBe(0);
    expect(await ofCategory(y.token, "BACK_IN_STOCK")).toEqual([]); // going out of stock tells no one
    expect(await adjust(product.id, 5)).toBe(5);

    const forY = await ofCategory(y.token, "BACK_IN_STOCK");
    expect(forY).toHaveLength(1);
    expect(forY[0]!.title).toContain(product.name);
    expect(forY[0]!.readAt).toBeNull();
    expect(await ofCategory(x.token, "BACK_IN_STOCK")).toEqual([]);
    expect((await inbox(x.token)).totalCount).toBe(0);
    expect((await inbox(z.token)).totalCount).toBe(0);

    // Stock rising further (5 -> 6) is not "back in stock" again.
    expect(await adjust(product.id, 1)).toBe(6);
    expect(await ofCategory(y.token, "BACK_IN_STOCK")).toHaveLength(1);
  });

  it("a cancellation that returns the last units notifies cart holders", async () => {
    const product = await newProduct(2);
    const [a, b] = await Promise.all([signUp(server.app.url), signUp(server.app.url)]);
    await addToCart(b.token, product.id, 1); // B holds one while stock is 2
    await addToCart(a.token, product.id, 2);
    const order = await checkout(a.token); // takes the rest: stock 0
    expect(await fixtures.stockOf(server.app.url, product.id)).toBe(0);
    expect(await ofCategory(b.token, "BACK_IN_STOCK")).toEqual([]);

    const cancelled = await request(server.app.url, CancelOrderWithStockDocument, { id: order.id }, a.token);
    expect(ok(cancelled).cancelOrder).toEqual({ status: "CANCELLED", items: [{ product: { stock: 2 } }] });

    const forB = await ofCategory(b.token, "BACK_IN_STOCK");
    expect(forB).toHaveLength(1);
    expect(forB[0]!.title).toContain(product.name);
    // A's cart was emptied by checkout: no BACK_IN_STOCK, but ORDER_UPDATES for placed and cancelled.
    expect(await ofCategory(a.token, "BACK_IN_STOCK")).toEqual([]);
    const updates = await ofCategory(a.token, "ORDER_UPDATES");
    expect(updates.map((n) => n.title)).toEqual([`Order ${order.number} cancelled`, `Order ${order.number} placed`]);
  });
});

describe("PRICE_DROPS", () => {
  it("a decrease notifies cart holders who have it enabled; an increase notifies no one", async () => {
    const product = await newProduct(10, 2_000);
    const [a, b, c, d] = await Promise.all([signUp(server.app.url), signUp(server.app.url), signUp(server.app.url), signUp(server.app.url)]);
    for (const u of [a, b, c]) await addToCart(u.token, product.id);
    await setPref(c.token, "PRICE_DROPS", false);

    await setPrice(product.id, 1_500);
    for (const u of [a, b]) {
      const drops = await ofCategory(u.token, "PRICE_DROPS");
      expect(drops).toHaveLength(1);
      expect(drops[0]!.title).toContain(product.name);
      expect(drops[0]!.body).toContain("15.00");
    }
    expect((await inbox(c.token)).totalCount).toBe(0);
    expect((await inbox(d.token)).totalCount).toBe(0);

    await setPrice(product.id, 1_800); // increase
    ok(await request(server.app.url, RenameProductDocument, { id: product.id, name: "Renamed, same price" }, staff));
    for (const u of [a, b]) expect(await ofCategory(u.token, "PRICE_DROPS")).toHaveLength(1);
    expect((await inbox(c.token)).totalCount).toBe(0);
  });
});

describe("notificationReceived over a WebSocket", () => {
  it("pushes the new notification to its recipient only, and nothing in a disabled category", async () => {
    const product = await newProduct(10, 3_000);
    const [u, v] = await Promise.all([signUp(server.app.url), signUp(server.app.url)]);
    await addToCart(u.token, product.id);
    await addToCart(v.token, product.id);
    await setPref(v.token, "PRICE_DROPS", false);

    const clientU = wsClient(server.app.wsUrl, u.token);
    const clientV = wsClient(server.app.wsUrl, v.token);
    const eventsU = subscribe(clientU, NotificationReceivedDocument);
    const eventsV = subscribe(clientV, NotificationReceivedDocument);
    try {
      const nextU = nextWithin(eventsU, 10_000);
      const nextV = nextWithin(eventsV, 10_000);
      await waitForSubscribers(`${prefix}NOTIFICATION_RECEIVED:${keyOf(u.userId, "User")}`);
      await waitForSubscribers(`${prefix}NOTIFICATION_RECEIVED:${keyOf(v.userId, "User")}`);

      await setPrice(product.id, 2_500);
      const got = await nextU;
      expect(got.errors).toBeUndefined();
      const [stored] = await ofCategory(u.token, "PRICE_DROPS");
      expect(got.data?.notificationReceived).toEqual({ ...stored, category: "PRICE_DROPS", readAt: null });
      expect(got.data?.notificationReceived.title).toBe(`Price drop: ${product.name}`);

      // V disabled PRICE_DROPS: no row, and the first thing V's socket hears is V's own order.
      expect(await ofCategory(v.token, "PRICE_DROPS")).toEqual([]);
      const order = await checkout(v.token);
      const heardByV = await nextV;
      expect(heardByV.data?.notificationReceived).toMatchObject({ category: "ORDER_UPDATES", title: `Order ${order.number} placed` });
    } finally {
      await eventsU.return?.();
      await eventsV.return?.();
      await clientU.dispose();
      await clientV.dispose();
    }
  });
});

describe("markNotificationRead and node", () => {
  it("marks only one's own; someone else's id is NOT_FOUND exactly like an unknown id", async () => {
    const product = await newProduct(10);
    const [owner, stranger] = await Promise.all([signUp(server.app.url), signUp(server.app.url)]);
    await addToCart(owner.token, product.id);
    await checkout(owner.token);
    await addToCart(owner.token, product.id);
    await checkout(owner.token);
    const before = await inbox(owner.token);
    expect(before.totalCount).toBe(2);
    const [newer, older] = before.notes as [Note, Note];

    const marked = await markRead(older.id, owner.token);
    const read = ok(marked).markNotificationRead;
    expect(read.id).toBe(older.id);
    expect(read.readAt).not.toBeNull();
    expect(Date.parse(read.readAt!)).not.toBeNaN();
    const unread = await inbox(owner.token, true);
    expect(unread.totalCount).toBe(1);
    expect(unread.notes.map((n) => n.id)).toEqual([newer.id]);
    // Marking again keeps the first read time.
    const again = await markRead(older.id, owner.token);
    expect(ok(again).markNotificationRead.readAt).toBe(read.readAt);

    const theirs = await markRead(newer.id, stranger.token);
    const unknown = await markRead(toGlobalId("Notification", randomUUID()), stranger.token);
    expect(theirs.data).toBeNull();
    expect(codeOf(theirs)).toBe("NOT_FOUND");
    expect(codeOf(unknown)).toBe("NOT_FOUND");
    expect(theirs.errors?.[0]?.message).toBe(unknown.errors?.[0]?.message);
    // ...and the owner's notification is still unread.
    expect((await inbox(owner.token, true)).notes.map((n) => n.id)).toEqual([newer.id]);
    expect((await inbox(stranger.token)).totalCount).toBe(0);

    const node = async (token?: string) => ok(await request(server.app.url, NotificationNodeDocument, { id: newer.id }, token)).node;
    expect(await node(owner.token)).toEqual({ id: newer.id, title: newer.title });
    expect(await node(stranger.token)).toBeNull();
    expect(await node(staff)).toBeNull();
    expect(await node()).toBeNull();
  });
});

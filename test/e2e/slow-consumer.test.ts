// Bounded delivery: a socket that stops reading is held back (latest values coalesced) and, still
// behind after WS_BACKLOG_TIMEOUT, closed with 4008; everyone else keeps receiving every event.
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { App } from "../../src/app.ts";
import { CLOSE_TOO_SLOW } from "../../src/server/fanout.ts";
import {
  MeRoleDocument,
  ProductUpdatedCostDocument,
  RenameProductDocument,
  SetUserRoleDocument,
  StockWithDescriptionDocument,
  type Role,
  type StockWithDescriptionSubscription,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, logIn, nextWithin, request, signUp, someProducts, subscribe, textOf, useDatabase, wsClient, metricValue } from "../harness/index.ts";

const db = useDatabase();
let app: App;
let staff: string;
beforeAll(async () => {
  // A small cap, so that a paused socket is behind after a few hundred kilobytes.
  app = await db.start({ env: { WS_MAX_BUFFERED_BYTES: "16384", WS_BACKLOG_TIMEOUT: "2s" } });
  staff = await logIn(app.url, DEMO.staff);
});

// Sent as text over the raw sockets below; the graphql-ws client sends the same document.
const STOCK = textOf(StockWithDescriptionDocument);
const adjust = (productId: string, delta: number) => fixtures.adjustStock(app.url, staff, productId, delta);

const metric = (name: string) => metricValue(app.url, name);

/** A raw graphql-transport-ws socket with `count` subscriptions to one product, recording every stock it receives per subscription. */
async function rawSubscriber(productId: string, count: number) {
  const socket = new WebSocket(app.wsUrl, "graphql-transport-ws");
  const received = new Map<string, number[]>();
  let closeCode: number | undefined;
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve((closeCode = code))));
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  const acked = new Promise<void>((resolve) =>
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: string; payload?: { data: StockWithDescriptionSubscription } };
      if (message.type === "connection_ack") resolve();
      if (message.type === "next") received.get(message.id!)!.push(message.payload!.data.stockChanged.stock);
    }),
  );
  socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
  await acked;
  for (let i = 0; i < count; i++) {
    received.set(String(i), []);
    socket.send(JSON.stringify({ id: String(i), type: "subscribe", payload: { query: STOCK, variables: { productIds: [productId] } } }));
  }
  return { socket, received, closed, closeCode: () => closeCode };
}

/** Bumps the stock until every subscription of `slow` and the `fast` iterator have an event (all live). */
async function warmUp(productId: string, slow: Awaited<ReturnType<typeof rawSubscriber>>, fast: AsyncIterator<unknown>) {
  const pending = fast.next();
  for (let round = 0; ; round++) {
    if (round >= 30) throw new Error("subscriptions not live after 30 events");
    const stock = await adjust(productId, 1);
    const fastGot = await Promise.race([pending.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 300))]);
    // The event reaches the sockets after the mutation's answer: give it up to 300 ms to arrive.
    const allLive = () => [...slow.received.values()].every((v) => v.includes(stock));
    for (const deadline = Date.now() + 300; fastGot && !allLive() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    if (fastGot && allLive()) return stock;
  }
}

/** A raw socket with 100 subscriptions to the product, and a graphql-ws client with one. */
async function liveSubscribers(productId: string) {
  const slow = await rawSubscriber(productId, 100);
  const client = wsClient(app.wsUrl);
  const fast = subscribe(client, StockWithDescriptionDocument, { productIds: [productId] });
  return {
    slow,
    fast,
    async dispose() {
      await fast.return?.();
      await client.dispose();
      slow.socket.terminate();
    },
  };
}

describe("a socket that stops reading", () => {
  it("is closed with 4008 within a bounded time, while the other subscriber receives every event", async () => {
    const [product] = await someProducts(app.url, 1);
    const { slow, fast, dispose } = await liveSubscribers(product!.id);
    try {
      let stock = await warmUp(product!.id, slow, fast);
      const closedBefore = await metric("cartwheel_ws_sockets_closed_for_backlog_total");
      slow.socket.pause();
      const sent: number[] = [];
      const deadline = Date.now() + 30_000;
      // Every event is ~100 frames on the paused socket: the kernel's buffers fill, then ours.
      while ((await metric("cartwheel_ws_sockets_closed_for_backlog_total")) === closedBefore) {
        if (Date.now() > deadline) throw new Error("the paused socket was not closed within 30 s");
        stock = await adjust(product!.id, 1);
        sent.push(stock);
      }
      // The fast subscriber got every one of them, in order.
      const got: number[] = [];
      while (got.at(-1) !== stock) got.push((await nextWithin(fast)).data!.stockChanged.stock);
      expect(got.filter((s) => sent.includes(s))).toEqual(sent);
      // Reading again, the slow client finds what was sent before the close, then the close.
      slow.socket.resume();
      expect(await slow.closed).toBe(CLOSE_TOO_SLOW);
      for (const values of slow.received.values()) {
        // Never an older stock after a newer one.
        expect([...values].sort((a, b) => a - b)).toEqual(values);
      }
    } finally {
      await dispose();
    }
  });

  it("catching up before the timeout, receives the latest stock last and never an older one after a newer one", async () => {
    const [, product] = await someProducts(app.url, 2);
    const { slow, fast, dispose } = await liveSubscribers(product!.id);
    try {
      let stock = await warmUp(product!.id, slow, fast);
      const coalescedBefore = await metric("cartwheel_ws_events_coalesced_total");
      slow.socket.pause();
      // Until the server holds events back for this socket (bounded by count).
      for (let i = 0; (await metric("cartwheel_ws_sockets_behind")) === 0; i++) {
        if (i >= 400) throw new Error("the paused socket never fell behind");
        stock = await adjust(product!.id, 1);
      }
      // A few more changes while it is behind: only the latest of them needs to reach it.
      for (let i = 0; i < 5; i++) stock = await adjust(product!.id, 1);
      slow.socket.resume();
      await expect.poll(() => [...slow.received.values()].every((v) => v.at(-1) === stock), { timeout: 10_000, interval: 50 }).toBe(true);
      expect(slow.closeCode()).toBeUndefined();
      for (const values of slow.received.values()) expect([...values].sort((a, b) => a - b)).toEqual(values);
      expect(await metric("cartwheel_ws_events_coalesced_total")).toBeGreaterThan(coalescedBefore);
    } finally {
      await dispose();
    }
  });
});



describe("a socket held back when its role changes", () => {
  it("never receives the frames computed for its old role: it is closed with 4008 to resync", async () => {
    const product = (await someProducts(app.url, 3))[2];
    const admin = await logIn(app.url, DEMO.admin);
    const x = await signUp(app.url);
    const setRole = async (role: Role) =>
      expect((await request(app.url, SetUserRoleDocument, { userId: x.userId, role }, admin)).data?.setUserRole.role).toBe(role);
    await setRole("STAFF");
    const socket = new WebSocket(app.wsUrl, "graphql-transport-ws");
    let reason = "";
    const closed = new Promise<number>((resolve) => socket.once("close", (code, why) => ((reason = String(why)), resolve(code))));
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    // Resolved once each of the 100 subscriptions has had a frame: all of them are live.
    const liveIds = new Set<string>();
    let allLive!: () => void;
    const everyoneLive = new Promise<void>((resolve) => (allLive = resolve));
    const acked = new Promise<void>((resolve) =>
      socket.on("message", (data) => {
        const m = JSON.parse(String(data)) as { type: string; id?: string };
        if (m.type === "connection_ack") resolve();
        if (m.type === "next" && liveIds.add(m.id!).size === 100) allLive();
      }),
    );
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${x.token}` } }));
    await acked;
    const query = textOf(ProductUpdatedCostDocument);
    for (let i = 0; i < 100; i++) socket.send(JSON.stringify({ id: String(i), type: "subscribe", payload: { query, variables: { id: product!.id } } }));
    // A second socket of the same user shows when the role change has reached the server's sockets.
    const probe = wsClient(app.wsUrl, x.token);
    const rename = async (i: number) =>
      expect((await request(app.url, RenameProductDocument, { id: product!.id, name: `Held ${Date.now()} ${i}` }, staff)).errors).toBeUndefined();
    try {
      // Renames until all are live (an event sent before a subscription was set up reaches no one).
      for (let i = 0; liveIds.size < 100; i++) {
        if (i >= 30) throw new Error(`only ${liveIds.size} of 100 subscriptions live`);
        await rename(i);
        await Promise.race([everyoneLive, new Promise((r) => setTimeout(r, 300))]);
      }
      socket.pause();
      for (let i = 0; (await metric("cartwheel_ws_sockets_behind")) === 0; i++) {
        if (i >= 400) throw new Error("the paused socket never fell behind");
        await rename(i);
      }
      await setRole("CUSTOMER");
      await expect.poll(async () => (await nextWithin(subscribe(probe, MeRoleDocument))).data?.me?.role, { timeout: 5_000 }).toBe("CUSTOMER");
      socket.resume();
      expect(await closed).toBe(CLOSE_TOO_SLOW);
      expect(reason).toMatch(/Role changed/);
    } finally {
      await probe.dispose();
      socket.terminate();
    }
  });
});

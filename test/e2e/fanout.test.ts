// Fan-out: the reads an event costs do not grow with the number of its subscribers (one set of
// loaders per event and loader scope, shared by every subscriber on the instance).
import { describe, expect, it } from "vitest";
import type { FormattedExecutionResult } from "graphql";
import type { Client } from "graphql-ws";
import {
  CartVersionCountDocument,
  CreateProductDocument,
  FanoutStockDocument,
  StockOnlyDocument,
  MeRoleDocument,
  ProductCategoryIdDocument,
  ProductCostDocument,
  ProductCostUpdatedDocument,
  ProductNameCostDocument,
  RenameProductDocument,
  SetUserRoleDocument,
  StockCategoryProductsDocument,
  StockResumeDocument,
  type FanoutStockSubscription,
  type Role,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, logIn, nextWithin, ok, request, signUp, someProducts, subscribe, textOf, useTestServer, uniquePrefix, wsClient } from "../harness/index.ts";

const prefix = uniquePrefix();
const server = useTestServer({ redisPrefix: prefix });

/** The events of one subscription, typed by its document. */
type Events<T> = AsyncIterableIterator<FormattedExecutionResult<T, unknown>>;

/** `count` subscriptions to one product's stockChanged, over sockets of `perSocket` each (anonymous or with `token`). */
function subscribers(productId: string, count: number, perSocket: number, token?: string) {
  const clients: Client[] = [];
  const iterators: Events<FanoutStockSubscription>[] = [];
  for (let i = 0; i < count; i++) {
    if (i % perSocket === 0) clients.push(wsClient(server.app.wsUrl, token));
    iterators.push(subscribe(clients.at(-1)!, FanoutStockDocument, { productIds: [productId] }));
  }
  return {
    iterators,
    async dispose() {
      await Promise.all(iterators.map((it) => it.return?.()));
      await Promise.all(clients.map((c) => c.dispose()));
    },
  };
}

const adjust = (productId: string, staff: string, delta: number): Promise<number> => fixtures.adjustStock(server.app.url, staff, productId, delta);

/**
 * Changes the stock until every subscription has received an event (each is live then), bounded.
 * Subscriptions that became live earlier may hold older events queued: readers skip those.
 */
async function warmUp(productId: string, staff: string, iterators: AsyncIterator<unknown>[]) {
  const live = new Set<unknown>();
  const pending = iterators.map((it) => it.next().then(() => live.add(it)));
  for (let round = 0; live.size < iterators.length; round++) {
    if (round >= 30) throw new Error(`only ${live.size} of ${iterators.length} subscriptions live after 30 events`);
    await adjust(productId, staff, 1);
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 500))]);
  }
}

/**
 * Makes changes with `change` until every iterator has had an event (each subscription is live
 * then), bounded; returns each iterator's first event. Later readers skip queued older events.
 */
async function untilLive<T>(iterators: AsyncIterator<T>[], change: () => Promise<unknown>) {
  const live = new Set<number>();
  const pending = iterators.map((it, i) =>
    it.next().then((r) => {
      live.add(i);
      if (r.done) throw new Error("subscription ended");
      return r.value;
    }),
  );
  for (let round = 0; live.size < iterators.length; round++) {
    if (round >= 20) throw new Error(`only ${live.size} of ${iterators.length} subscriptions live after 20 changes`);
    await change();
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 500))]);
  }
  return Promise.all(pending);
}

/** SQL statements from the mutation until every subscriber has received its event. */
async function statementsPerEvent(productId: string, staff: string, iterators: Events<FanoutStockSubscription>[], delta: number) {
  const before = server.app.db.statementCount();
  const stock = await adjust(productId, staff, delta);
  await Promise.all(
    iterators.map(async (it) => {
      // Events queued during the warm-up come first; the one of this change has its stock.
      for (let skipped = 0; (await nextWithin(it, 15_000)).data?.stockChanged.stock !== stock; skipped++) {
        if (skipped > 40) throw new Error("the event of this change never came");
      }
    }),
  );
  return server.app.db.statementCount() - before;
}

describe("statements per event", () => {
  it("are the same with 1 and with 200 subscribers of one product, and with staff among them", async () => {
    const [one, many, quiet] = await someProducts(server.app.url, 3);
    const staff = await logIn(server.app.url, DEMO.staff);
    const single = subscribers(one!.id, 1, 1);
    const crowd = subscribers(many!.id, 200, 20);
    try {
      await warmUp(one!.id, staff, single.iterators);
      await warmUp(many!.id, staff, crowd.iterators);
      // One event that every subscriber receives: the warm-up's reads are all done after it.
      await statementsPerEvent(one!.id, staff, single.iterators, 1);
      await statementsPerEvent(many!.id, staff, crowd.iterators, 1);
      // The mutation's own statements: an event nobody watches.
      const mutation = await statementsPerEvent(quiet!.id, staff, [], 1);
      const alone = await statementsPerEvent(one!.id, staff, single.iterators, 1);
      expect(alone).toBeGreaterThan(mutation);
      const crowded = await statementsPerEvent(many!.id, staff, crowd.iterators, 1);
      expect(crowded).toBe(alone);
      // Staff see drafts: their loaders are another scope, read once for all staff.
      const staffSubs = subscribers(many!.id, 20, 10, staff);
      try {
        const everyone = [...crowd.iterators, ...staffSubs.iterators];
        await warmUp(many!.id, staff, staffSubs.iterators);
        await statementsPerEvent(many!.id, staff, everyone, -1);
        const mixed = await statementsPerEvent(many!.id, staff, everyone, -1);
        expect(mixed).toBeGreaterThanOrEqual(alone);
        // At most one more set of reads: the staff scope's.
        expect(mixed).toBeLessThanOrEqual(mutation + 2 * (alone - mutation));
      } finally {
        await staffSubs.dispose();
      }
    } finally {
      await single.dispose();
      await crowd.dispose();
    }
  });
});

describe("subscription documents", () => {
  const metric = async (result: "hit" | "miss") => {
    const text = await (await fetch(server.app.url.replace("/graphql", "/metrics"))).text();
    return Number(new RegExp(`^cartwheel_ws_documents_total\\{result="${result}"\\} (\\d+)`, "m").exec(text)?.[1] ?? 0);
  };

  it("are parsed and validated once for many identical subscribes, then taken from the cache", async () => {
    const [product] = await someProducts(server.app.url, 1);
    // A text no other test uses, so its first subscribe is the one miss.
    const query = `${textOf(FanoutStockDocument)} # cache probe ${Date.now()}`;
    const [misses, hits] = [await metric("miss"), await metric("hit")];
    const client = wsClient(server.app.wsUrl);
    try {
      const staff = await logIn(server.app.url, DEMO.staff);
      const iterators = Array.from({ length: 50 }, () => client.iterate<FanoutStockSubscription>({ query, variables: { productIds: [product!.id] } }));
      await warmUp(product!.id, staff, iterators);
      expect(await metric("miss")).toBe(misses + 1);
      expect(await metric("hit")).toBe(hits + 49);
      await Promise.all(iterators.map((it) => it.return?.()));
    } finally {
      await client.dispose();
    }
  });
});

describe("shared reads, separate authorization", () => {
  it("anonymous, customer and staff subscribers of productUpdated { costPrice } each get what a fresh query gives them", async () => {
    const [product] = await someProducts(server.app.url, 1);
    const staff = await logIn(server.app.url, DEMO.staff);
    const customer = await logIn(server.app.url, DEMO.customer);
    const viewers = [undefined, customer, staff];
    const clients = viewers.map((token) => wsClient(server.app.wsUrl, token));
    const iterators = clients.map((c) => subscribe(c, ProductCostUpdatedDocument, { id: product!.id }));
    try {
      let name = "";
      // Rename until all three are live, then compare the last event with a fresh query.
      const first = await untilLive(iterators, async () => {
        name = `Renamed ${Date.now()} ${Math.random()}`;
        const res = await request(server.app.url, RenameProductDocument, { id: product!.id, name }, staff);
        expect(res.errors).toBeUndefined();
      });
      const events = await Promise.all(
        iterators.map(async (it, i) => {
          let event = first[i]!;
          // Skip older renames still queued for a subscriber that was live earlier.
          while (event.data?.productUpdated.name !== name) event = await nextWithin(it);
          return event;
        }),
      );
      for (const [i, token] of viewers.entries()) {
        const fresh = await request(server.app.url, ProductCostDocument, { id: product!.id }, token);
        const event = events[i]!;
        expect(event.data?.productUpdated).toEqual(fresh.data?.product);
        expect((event.errors ?? []).map((e) => [e.path, e.extensions?.code])).toEqual((fresh.errors ?? []).map((e) => [e.path?.map((p) => (p === "product" ? "productUpdated" : p)), e.extensions.code]));
      }
      expect(events.map((e) => e.data?.productUpdated.costPrice === null)).toEqual([true, true, false]);
      expect(events[0]!.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect(events[1]!.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    } finally {
      await Promise.all(iterators.map((it) => it.return?.()));
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

const executions = async () => {
  const text = await (await fetch(server.app.url.replace("/graphql", "/metrics"))).text();
  return Number(/^cartwheel_fanout_executions_total (\d+)/m.exec(text)?.[1] ?? 0);
};

describe("executions per event", () => {

  it("equal the number of groups: 150 identical anonymous subscriptions and 50 of another document are two", async () => {
    const [product] = await someProducts(server.app.url, 1);
    const staff = await logIn(server.app.url, DEMO.staff);
    const clients = Array.from({ length: 10 }, () => wsClient(server.app.wsUrl));
    const iterators: Events<{ stockChanged: { stock: number } }>[] = Array.from({ length: 200 }, (_, i) =>
      i < 150
        ? subscribe(clients[i % 10]!, FanoutStockDocument, { productIds: [product!.id] })
        : subscribe(clients[i % 10]!, StockOnlyDocument, { productIds: [product!.id] }),
    );
    try {
      await warmUp(product!.id, staff, iterators);
      // Count from an event every subscriber has received: no warm-up event is still executing.
      const synced = await adjust(product!.id, staff, 1);
      await Promise.all(iterators.map(async (it) => {
        while ((await nextWithin(it)).data?.stockChanged.stock !== synced);
      }));
      const before = await executions();
      const stock = await adjust(product!.id, staff, 1);
      await Promise.all(
        iterators.map(async (it) => {
          while ((await nextWithin(it)).data?.stockChanged.stock !== stock);
        }),
      );
      expect((await executions()) - before).toBe(2);
    } finally {
      await Promise.all(iterators.map((it) => it.return?.()));
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

describe("resumed subscriptions", () => {
  it("share their live group: 30 subscribers resuming from different cursors each get their missed events, then one execution per event for all", async () => {
    const [product] = await someProducts(server.app.url, 1);
    const staff = await logIn(server.app.url, DEMO.staff);
    const first = wsClient(server.app.wsUrl);
    const seed = subscribe(first, StockResumeDocument, { productIds: [product!.id] });
    const cursors: { cursor: string; version: number }[] = [];
    await untilLive([seed], () => adjust(product!.id, staff, 1));
    for (let i = 0; i < 5; i++) {
      const stock = await adjust(product!.id, staff, 1);
      let e;
      while ((e = (await nextWithin(seed)).data!.stockChanged).stock !== stock);
      cursors.push(e);
    }
    await first.dispose();
    const head = await adjust(product!.id, staff, 1);
    const clients = Array.from({ length: 3 }, () => wsClient(server.app.wsUrl));
    try {
      const iterators = Array.from({ length: 30 }, (_, i) =>
        subscribe(clients[i % 3]!, StockResumeDocument, { productIds: [product!.id], after: cursors[i % 5]!.cursor }),
      );
      // Each replays exactly the changes after its cursor, up to the newest one.
      await Promise.all(
        iterators.map(async (it, i) => {
          const versions: number[] = [];
          for (let v = cursors[i % 5]!.version + 1; versions.length === 0 || versions[versions.length - 1]! < cursors[4]!.version + 1; v++) {
            versions.push((await nextWithin(it)).data!.stockChanged.version);
          }
          expect(versions).toEqual(Array.from({ length: cursors[4]!.version + 1 - cursors[i % 5]!.version }, (_, k) => cursors[i % 5]!.version + 1 + k));
        }),
      );
      const before = await executions();
      const stock = await adjust(product!.id, staff, 1);
      const live = await Promise.all(iterators.map((it) => nextWithin(it)));
      expect(live.map((e) => e.data?.stockChanged.stock)).toEqual(iterators.map(() => stock));
      expect(stock).toBe(head + 1);
      expect((await executions()) - before).toBe(1);
      await Promise.all(iterators.map((it) => it.return?.()));
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

describe("groups by role", () => {
  it("signed-in subscribers of a public field share one execution per role; a demoted one gets its new role's answer from then on", async () => {
    const [product] = await someProducts(server.app.url, 1);
    const staff = await logIn(server.app.url, DEMO.staff);
    const admin = await logIn(server.app.url, DEMO.admin);
    const [x, y] = [await signUp(server.app.url), await signUp(server.app.url)];
    const setRole = async (userId: string, role: Role) =>
      expect((await request(server.app.url, SetUserRoleDocument, { userId, role }, admin)).data?.setUserRole.role).toBe(role);
    await setRole(x.userId, "STAFF");
    await setRole(y.userId, "STAFF");
    const customer = await logIn(server.app.url, DEMO.customer);
    const clients = [x.token, y.token, customer, customer].map((t) => wsClient(server.app.wsUrl, t));
    const iterators = clients.map((c) => subscribe(c, ProductNameCostDocument, { id: product!.id }));
    let name = "";
    const rename = async () => {
      name = `Role test ${Date.now()} ${Math.random()}`;
      expect((await request(server.app.url, RenameProductDocument, { id: product!.id, name }, staff)).errors).toBeUndefined();
      return name;
    };
    const latest = async (it: (typeof iterators)[number], expected: string) => {
      for (;;) {
        const event = await nextWithin(it);
        if (event.data?.productUpdated.name === expected) return event;
      }
    };
    try {
      // Live: every subscription has had an event.
      await untilLive(iterators, rename);
      // Count from an event every subscription received: a warm-up rename still executing in
      // another group (untilLive renames again when one is slow) is not counted.
      const synced = await rename();
      await Promise.all(iterators.map((it) => latest(it, synced)));
      const before = await executions();
      const expected = await rename();
      const events = await Promise.all(iterators.map((it) => latest(it, expected)));
      // Two staff, two customer subscriptions: two executions.
      expect((await executions()) - before).toBe(2);
      expect(events.map((e) => e.data?.productUpdated.costPrice === null)).toEqual([false, false, true, true]);

      await setRole(x.userId, "CUSTOMER");
      await expect.poll(async () => (await nextWithin(subscribe(clients[0]!, MeRoleDocument))).data?.me?.role, { timeout: 5_000 }).toBe("CUSTOMER");
      // The event at the change may be skipped for the demoted one; the next is answered for its new role.
      await rename();
      const after = await rename();
      const [demoted, stillStaff] = await Promise.all([latest(iterators[0]!, after), latest(iterators[1]!, after)]);
      expect(demoted.data?.productUpdated.costPrice).toBeNull();
      expect(demoted.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect(stillStaff.data?.productUpdated.costPrice).not.toBeNull();
    } finally {
      await Promise.all(iterators.map((it) => it.return?.()));
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

describe("groups by user", () => {
  it("several sockets of one user share one execution of their cart's events; another user's cart is neither shared nor seen", async () => {
    const [product] = await someProducts(server.app.url, 1);
    const [alice, bob] = [await signUp(server.app.url), await signUp(server.app.url)];
    const clients = [alice.token, alice.token, alice.token, bob.token].map((t) => wsClient(server.app.wsUrl, t));
    const iterators = clients.map((c) => subscribe(c, CartVersionCountDocument));
    // Bob's cart grows by 3 at a time, Alice's by 1: an event of Alice's would show on Bob's socket.
    const add = async (token: string) => ok(await fixtures.addToCart(server.app.url, token, product!.id, token === bob.token ? 3 : 1)).addToCart.version;
    try {
      // Live: each socket has had one of its user's events.
      await untilLive(iterators, async () => {
        await add(alice.token);
        await add(bob.token);
      });
      // Count from events every socket received (Alice's three, Bob's one): no warm-up event is still executing.
      const [aliceSynced, bobSynced] = [await add(alice.token), await add(bob.token)];
      await Promise.all(
        iterators.map(async (it, i) => {
          while ((await nextWithin(it)).data?.cartUpdated.version !== (i < 3 ? aliceSynced : bobSynced));
        }),
      );
      const before = await executions();
      const version = await add(alice.token);
      const got = await Promise.all(
        iterators.slice(0, 3).map(async (it) => {
          for (;;) {
            const v = (await nextWithin(it)).data?.cartUpdated.version;
            if (v === version) return v;
          }
        }),
      );
      expect(got).toEqual([version, version, version]);
      expect((await executions()) - before).toBe(1);
      // Bob's socket sees only Bob's cart.
      const bobVersion = await add(bob.token);
      for (;;) {
        const cart = (await nextWithin(iterators[3]!)).data!.cartUpdated;
        expect(cart.itemCount % 3).toBe(0);
        if (cart.version === bobVersion) break;
      }
    } finally {
      await Promise.all(iterators.map((it) => it.return?.()));
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

describe("loaders shared per event and scope", () => {
  it("a staff group's reads (drafts included) never answer an anonymous or customer group's selection of the same event", async () => {
    const staff = await logIn(server.app.url, DEMO.staff);
    const customer = await logIn(server.app.url, DEMO.customer);
    const [product] = await someProducts(server.app.url, 1);
    // A draft in the product's own category.
    const categoryId = ok(await request(server.app.url, ProductCategoryIdDocument, { id: product!.id })).product!.category.id;
    const slug = `draft-${Date.now()}`;
    const draft = await request(
      server.app.url,
      CreateProductDocument,
      { input: { slug, name: `Draft ${slug}`, description: "unreleased", priceCents: 100, categoryId, status: "DRAFT" } },
      staff,
    );
    expect(draft.errors).toBeUndefined();
    // Staff first, so their loaders (which see drafts) are the first ones made for each event.
    const clients = [staff, undefined, customer].map((t) => wsClient(server.app.wsUrl, t));
    const iterators = clients.map((c) => subscribe(c, StockCategoryProductsDocument, { productIds: [product!.id] }));
    try {
      await warmUp(product!.id, staff, iterators);
      const stock = await adjust(product!.id, staff, 1);
      const slugsSeen = await Promise.all(
        iterators.map(async (it) => {
          for (;;) {
            const event = (await nextWithin(it)).data!.stockChanged;
            if (event.stock === stock) return event.product.category.products.edges.map((e) => e.node.slug);
          }
        }),
      );
      expect(slugsSeen[0]).toContain(slug);
      expect(slugsSeen[1]).not.toContain(slug);
      expect(slugsSeen[2]).not.toContain(slug);
    } finally {
      await Promise.all(iterators.map((it) => it.return?.()));
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

// The outbox table's SQL against real PostgreSQL: positions, the relay lease, pruning.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tmpdir } from "node:os";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { OutboxStore } from "../../src/events/outbox.ts";
import { event } from "../../src/events/topics.ts";
import { createTestDatabase } from "../harness/index.ts";

const state = {} as { db: Database; store: OutboxStore; drop(): Promise<void> };
beforeAll(async () => {
  const created = await createTestDatabase();
  state.drop = created.drop;
  state.db = await openDatabase({ url: created.url, dataDir: tmpdir(), poolSize: 12 });
  state.store = new OutboxStore(state.db.sql);
});
afterAll(async () => {
  await state.db.close();
  await state.drop();
});

const events = (n: number, tag: string) => Array.from({ length: n }, (_, i) => event("PRODUCT_UPDATED", `${tag}-${i}`, { productId: `${tag}-${i}` }));

describe("outbox positions", () => {
  it("are contiguous across concurrent transactions, rolled-back ones giving theirs back", async () => {
    const start = (await state.store.head()).position;
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        state.db.prisma.$transaction(async (tx) => {
          const written = await state.store.append(tx, events((i % 3) + 1, `t${i}`));
          if (i % 5 === 0) throw new Error("rolled back");
          return written;
        }),
      ),
    );
    const committed = results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
    const positions = committed.map((e) => e.position).sort((a, b) => a - b);
    expect(positions).toEqual(Array.from({ length: positions.length }, (_, i) => start + 1 + i));
    expect((await state.store.head()).position).toBe(start + positions.length);
    // The rows hold what was written, at the positions the writers were told.
    const rows = await state.store.range(start);
    expect(rows.map((r) => [r.position, r.id])).toEqual([...committed].sort((a, b) => a.position - b.position).map((e) => [e.position, e.id]));
  });
});

describe("the relay lease", () => {
  it("one holder at a time; it renews; a lapsed or released lease goes to another", async () => {
    const owners = ["relay-a", "relay-b", "relay-c"];
    const first = await Promise.all(owners.map((o) => state.store.lease(o, 400)));
    expect(first.filter((r) => r.leader)).toHaveLength(1);
    const holder = owners[first.findIndex((r) => r.leader)]!;
    const others = owners.filter((o) => o !== holder);
    expect((await state.store.lease(holder, 400)).leader).toBe(true);
    expect((await Promise.all(others.map((o) => state.store.lease(o, 400)))).some((r) => r.leader)).toBe(false);
    // Not renewed: after it lapses another one takes it (bounded wait on the lease itself).
    const deadline = Date.now() + 5_000;
    let next: string | undefined;
    while (!next) {
      const leaders = [];
      for (const o of others) if ((await state.store.lease(o, 10_000)).leader) leaders.push(o);
      expect(leaders.length).toBeLessThanOrEqual(1);
      next = leaders[0];
      if (Date.now() > deadline) throw new Error("the lapsed lease was never taken");
      if (!next) await new Promise((r) => setTimeout(r, 50));
    }
    expect((await state.store.lease(holder, 400)).leader).toBe(false);
    await state.store.release(next);
    expect((await state.store.lease(holder, 400)).leader).toBe(true);
  });
});

describe("pruning", () => {
  it("deletes events older than the cutoff, never newer ones, and records how far it went", async () => {
    await state.db.prisma.$transaction((tx) => state.store.append(tx, events(5, "old")));
    const oldHead = (await state.store.head()).position;
    const [{ cut }] = (await state.db.sql.query("SELECT clock_timestamp() AS cut")) as [{ cut: Date }];
    await state.db.prisma.$transaction((tx) => state.store.append(tx, events(3, "new")));
    const head = (await state.store.head()).position;
    expect(await state.store.prune(cut)).toBeGreaterThan(0);
    expect((await state.store.head()).prunedThrough).toBe(oldHead);
    expect((await state.store.range(0)).map((r) => r.position)).toEqual([oldHead + 1, oldHead + 2, oldHead + 3]);
    expect(head).toBe(oldHead + 3);
    // With a cutoff past everything, the newest event still stays.
    await state.store.prune(new Date(Date.now() + 60_000));
    expect((await state.store.head()).prunedThrough).toBe(head - 1);
    expect((await state.store.range(0)).map((r) => r.position)).toEqual([head]);
  });
});

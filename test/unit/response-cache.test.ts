// The response cache's rules on its own (in memory): keys, freshness by position, expiry, bounds.
import { afterEach, expect, it, vi } from "vitest";
import { createLogger } from "../../src/server/logger.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { ResponseCache, type ResponseCacheOptions } from "../../src/server/response-cache.ts";

afterEach(() => void vi.useRealTimers());

function cache(options: Partial<ResponseCacheOptions> = {}) {
  let position = 10;
  const c = new ResponseCache({ prefix: "t:", namespace: "n", position: () => position, metrics: createMetrics(), log: createLogger("silent"), ...options });
  return { c, advance: (to: number) => (position = to) };
}

it("keys: variables in any key order are one entry; another operation, audience or value is another", () => {
  const { c } = cache();
  expect(c.key("h", "Q", { a: 1, b: { c: [1, 2], d: null } }, "public")).toBe(c.key("h", "Q", { b: { d: null, c: [1, 2] }, a: 1 }, "public"));
  expect(c.key("h", null, undefined, "public")).toBe(c.key("h", undefined, {}, "public"));
  const base = c.key("h", "Q", { a: 1 }, "public");
  for (const other of [c.key("h", "R", { a: 1 }, "public"), c.key("h", "Q", { a: 1 }, "partner"), c.key("h", "Q", { a: 2 }, "public"), c.key("g", "Q", { a: 1 }, "public")]) {
    expect(other).not.toBe(base);
  }
  expect(base.startsWith("t:rc:n:")).toBe(true);
});

it("serves an entry only while its position is past the last change it was told about", async () => {
  const { c, advance } = cache();
  // Started at position 10: changes up to 9 are in it, anything from 10 on may not be.
  c.set("k", `{"a":1}`, 10, 10);
  expect(await c.get("k", "http")).toMatchObject({ data: `{"a":1}`, maxAge: 10, age: 0 });
  c.changed(9);
  expect(await c.get("k", "http")).toBeDefined();
  c.changed(10);
  expect(await c.get("k", "http")).toBeUndefined();
  advance(12);
  c.set("k", `{"a":2}`, 10, c.position());
  expect((await c.get("k", "http"))?.data).toBe(`{"a":2}`);
});

it("an entry older than its max-age is gone, and its Age counts whole seconds", async () => {
  vi.useFakeTimers({ now: 1_000_000 });
  const { c } = cache();
  c.set("k", `{}`, 10, 10);
  vi.setSystemTime(1_000_000 + 9_500);
  expect((await c.get("k", "http"))?.age).toBe(9);
  vi.setSystemTime(1_000_000 + 10_000);
  expect(await c.get("k", "http")).toBeUndefined();
});

it("memory is bounded in entries and in size, least recently used first; an oversized answer is not kept", async () => {
  const { c } = cache({ maxEntries: 2, maxMemoryChars: 1_000, maxBytes: 500 });
  c.set("a", "1", 10, 10);
  c.set("b", "2", 10, 10);
  await c.get("a", "http");
  c.set("c", "3", 10, 10);
  expect(await c.get("b", "http")).toBeUndefined();
  expect(await c.get("a", "http")).toBeDefined();
  expect(await c.get("c", "http")).toBeDefined();
  const big = "x".repeat(450);
  c.set("d", big, 10, 10);
  c.set("e", big, 10, 10);
  // Two of 450 and what is left would pass 1,000 characters: only the newest stay.
  expect(await c.get("a", "http")).toBeUndefined();
  expect(await c.get("e", "http")).toBeDefined();
  c.set("f", "y".repeat(600), 10, 10);
  expect(await c.get("f", "http")).toBeUndefined();

  const sized = cache({ maxEntries: 100, maxMemoryChars: 1_000 }).c;
  sized.set("d", big, 10, 10);
  sized.set("e", big, 10, 10);
  sized.set("g", "z".repeat(200), 10, 10);
  expect(await sized.get("d", "http")).toBeUndefined();
  expect(await sized.get("e", "http")).toBeDefined();
  expect(await sized.get("g", "http")).toBeDefined();
});

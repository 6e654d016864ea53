// Category edits reach the shared response cache (server/response-cache.ts) of every instance:
// `categories` cached on B is answered fresh after createCategory / updateCategory on A. Every
// wait is on the event itself (B's bus handing out CATALOG_CHANGED), bounded.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { ALL } from "../../src/events/topics.ts";
import { CategoryListDocument, CreateCategoryDocument, UpdateCategoryDocument } from "../generated/graphql.ts";
import { DEMO, logIn, metricValue, nextWithin, ok, request, useInstancePair } from "../harness/index.ts";

const pair = useInstancePair();
let staff: string;
beforeAll(async () => {
  staff = await logIn(pair.a.url, DEMO.staff);
});

const metric = (app: App, name: string) => metricValue(app.url, name).then((v) => (Number.isNaN(v) ? 0 : v));
const hits = (app: App) => metric(app, `cartwheel_response_cache_hits_total{layer="http"`);
const stale = (app: App) => metric(app, "cartwheel_response_cache_stale_total");
const list = async (app: App) => ok(await request(app.url, CategoryListDocument)).categories;

/** Resolves once B's bus has handed out the next catalog change (its cache has been told by then). */
function toldOnB() {
  const events = pair.b.bus.subscribe("CATALOG_CHANGED", [ALL]);
  return async () => {
    try {
      return await nextWithin(events, 5_000);
    } finally {
      await events.return?.();
    }
  };
}

/** Caches `categories` on B and proves the next read is a hit (so a fresh answer later is a refusal, not a miss). */
async function warmOnB() {
  const cached = await list(pair.b);
  const before = await hits(pair.b);
  expect(await list(pair.b)).toEqual(cached);
  expect(await hits(pair.b)).toBe(before + 1);
  return { cached, stale: await stale(pair.b) };
}

describe("categories cached on another instance", () => {
  it("shows a category created on A at B's next answer", async () => {
    const warm = await warmOnB();
    const told = toldOnB();
    const slug = `cached-${randomUUID().slice(0, 8)}`;
    const made = await request(pair.a.url, CreateCategoryDocument, { input: { slug, name: "Cached New" } }, staff);
    expect(made.errors).toBeUndefined();
    expect(await told()).toMatchObject({ categoryId: expect.any(String) });
    const fresh = await list(pair.b);
    expect(fresh).toEqual([...warm.cached, { id: made.data!.createCategory.id, slug, name: "Cached New" }]);
    expect(await stale(pair.b)).toBe(warm.stale + 1);
  });

  it("shows a category renamed on A at B's next answer", async () => {
    const warm = await warmOnB();
    const target = warm.cached[0]!;
    const told = toldOnB();
    const name = `Renamed ${randomUUID().slice(0, 6)}`;
    expect((await request(pair.a.url, UpdateCategoryDocument, { id: target.id, patch: { name } }, staff)).errors).toBeUndefined();
    await told();
    expect((await list(pair.b))[0]).toEqual({ ...target, name });
    expect(await stale(pair.b)).toBe(warm.stale + 1);
  });
});

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { AdjustStockDocument, EmbeddedCatalogDocument, MeEmailDocument, StockResumeDocument } from "../generated/graphql.ts";
import { DEMO, logIn, nextWithin, ok, request, subscribe, tempDir, wsClient } from "../harness/index.ts";

const root = new URL("../..", import.meta.url).pathname;
const dir = tempDir("cartwheel-embedded-");
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  dir.remove();
});

/** `npm start` as a user runs it: no DATABASE_URL, no REDIS_URL; resolves with the URL it logs. */
async function startEmbedded(): Promise<{ url: string; stop(): Promise<number | null> }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir.path, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", NODE_ENV: "development", SHUTDOWN_DELAY: "0" };
  for (const name of ["DATABASE_URL", "REDIS_URL", "JWT_PRIVATE_KEY", "SEED_DEMO"]) delete env[name];
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 90 s:\n${output}`)), 90_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Cartwheel listening on (http:\/\/\S+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!.replace("localhost", "127.0.0.1"));
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      const [code] = await once(child, "exit");
      return code as number | null;
    },
  };
}

it("runs on PGlite with in-process pub/sub, seeds once, and keeps data, signing key and resumable events across restarts", async () => {
  const first = await startEmbedded();
  const before = ok(await request(first.url, EmbeddedCatalogDocument));
  expect(before.products.totalCount).toBeGreaterThanOrEqual(50);
  expect(before.categories.length).toBeGreaterThanOrEqual(5);
  expect(existsSync(join(dir.path, "jwt-signing-key.pem"))).toBe(true);

  const staff = await logIn(first.url, DEMO.staff);
  const product = before.products.edges[0]!.node;
  const watcher = wsClient(first.url.replace("http", "ws"));
  const events = subscribe(watcher, StockResumeDocument, { productIds: [product.id] });
  const pending = events.next();
  // The subscription is live once a change reaches it; bounded by the attempts.
  let event: Awaited<typeof pending> | undefined;
  for (let attempt = 0; !event && attempt < 20; attempt++) {
    await request(first.url, AdjustStockDocument, { productId: product.id, delta: 7 }, staff);
    event = await Promise.race([pending, new Promise<undefined>((r) => setTimeout(r, 500))]);
  }
  const seen = event?.done ? undefined : event?.value.data?.stockChanged;
  const seenStock = seen!.stock;
  await watcher.dispose();
  const missed = (await request(first.url, AdjustStockDocument, { productId: product.id, delta: 1 }, staff)).data!.adjustStock.stock;
  expect(missed).toBeGreaterThan(seenStock);
  expect(await first.stop()).toBe(0);

  const second = await startEmbedded();
  try {
    // A cursor from before the restart resumes: the change made after it is replayed from the embedded outbox.
    const resumed = wsClient(second.url.replace("http", "ws"));
    try {
      const replay = subscribe(resumed, StockResumeDocument, { productIds: [product.id], after: seen!.cursor });
      let last = (await nextWithin(replay)).data!.stockChanged;
      while (last.stock !== missed) last = (await nextWithin(replay)).data!.stockChanged;
      expect(last.version).toBeGreaterThan(0);
    } finally {
      await resumed.dispose();
    }
    const after = (await request(second.url, EmbeddedCatalogDocument)).data!;
    expect(after.products.totalCount).toBe(before.products.totalCount);
    expect(after.products.edges.map((e) => e.node.id)).toEqual(before.products.edges.map((e) => e.node.id));
    expect(after.products.edges[0]!.node.stock).toBe(missed);
    // The same signing key: a token from the first run is still valid.
    const me = await request(second.url, MeEmailDocument, {}, staff);
    expect(me.data?.me?.email).toBe(DEMO.staff.email);
  } finally {
    expect(await second.stop()).toBe(0);
  }
}, 240_000);

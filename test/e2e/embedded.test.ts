import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { DEMO, gql, logIn, nextWithin, tempDir, wsClient } from "../harness/index.ts";

const STOCK = `subscription($ids: [ID!]!, $after: String) { stockChanged(productIds: $ids, after: $after) { stock version cursor } }`;

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

const LIST = `{ products(first: 100) { totalCount edges { node { id name stock } } } categories { id } }`;

it("runs on PGlite with in-process pub/sub, seeds once, and keeps data, signing key and resumable events across restarts", async () => {
  const first = await startEmbedded();
  const before = await gql(first.url, LIST);
  expect(before.errors).toBeUndefined();
  expect(before.data.products.totalCount).toBeGreaterThanOrEqual(50);
  expect(before.data.categories.length).toBeGreaterThanOrEqual(5);
  expect(existsSync(join(dir.path, "jwt-signing-key.pem"))).toBe(true);

  const staff = await logIn(first.url, DEMO.staff);
  const product = before.data.products.edges[0].node;
  const watcher = wsClient(first.url.replace("http", "ws"));
  const events = watcher.iterate({ query: STOCK, variables: { ids: [product.id] } }) as AsyncIterableIterator<any>;
  const pending = events.next();
  // The subscription is live once a change reaches it; bounded by the attempts.
  let event: any;
  for (let attempt = 0; !event && attempt < 20; attempt++) {
    await gql(first.url, `mutation($p: ID!) { adjustStock(productId: $p, delta: 7) { stock } }`, { p: product.id }, staff);
    event = await Promise.race([pending, new Promise((r) => setTimeout(r, 500))]);
  }
  const seenStock = (event as { value: any }).value.data.stockChanged.stock as number;
  await watcher.dispose();
  const missed = await gql(first.url, `mutation($p: ID!) { adjustStock(productId: $p, delta: 1) { stock } }`, { p: product.id }, staff);
  expect(missed.data.adjustStock.stock).toBeGreaterThan(seenStock);
  expect(await first.stop()).toBe(0);

  const second = await startEmbedded();
  try {
    // A cursor from before the restart resumes: the change made after it is replayed from the embedded outbox.
    const resumed = wsClient(second.url.replace("http", "ws"));
    try {
      const replay = resumed.iterate({ query: STOCK, variables: { ids: [product.id], after: (event as { value: any }).value.data.stockChanged.cursor } }) as AsyncIterableIterator<any>;
      let last = (await nextWithin(replay)).data.stockChanged;
      while (last.stock !== missed.data.adjustStock.stock) last = (await nextWithin(replay)).data.stockChanged;
      expect(last.version).toBeGreaterThan(0);
    } finally {
      await resumed.dispose();
    }
    const after = await gql(second.url, LIST);
    expect(after.data.products.totalCount).toBe(before.data.products.totalCount);
    expect(after.data.products.edges.map((e: any) => e.node.id)).toEqual(before.data.products.edges.map((e: any) => e.node.id));
    expect(after.data.products.edges[0].node.stock).toBe(missed.data.adjustStock.stock);
    // The same signing key: a token from the first run is still valid.
    const me = await gql(second.url, `{ me { email } }`, {}, staff);
    expect(me.data.me.email).toBe(DEMO.staff.email);
  } finally {
    expect(await second.stop()).toBe(0);
  }
}, 240_000);

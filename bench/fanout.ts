// `npm run bench:fanout`: live-subscription fan-out on the real server process. N anonymous
// subscribers of one product's stockChanged (spread over BENCH_WORKERS client processes), then M
// stock changes one at a time (each after every subscriber got the previous one, or 15 s):
// delivery latency (mutation sent -> receipt) p50 / p99 / max, deliveries per second, lost
// deliveries, SQL statements per event, the mutation's own latency, server RSS and KiB per idle
// subscriber. The embedded default unless BENCH_DATABASE_URL (a scratch database) and
// BENCH_REDIS_URL are set; BENCH_INSTANCES=2 (with both) spreads the subscribers over two
// instances sharing Redis, the stock changes going to the first. 127.0.0.1 only, bounded by
// BENCH_LEVELS and BENCH_MUTATIONS. Prints figures; asserts nothing.
// Knobs: BENCH_LEVELS=1000,5000,10000 BENCH_MUTATIONS=15 BENCH_WORKERS=4 BENCH_INSTANCES=1.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { percentile } from "./app.ts";

const now = () => performance.timeOrigin + performance.now();
const QUERY = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { stock inStock product { id name } } }`;

type ToWorker = { type: "open"; url: string; count: number; productId: string } | { type: "expect"; stock: number } | { type: "stop" };
type FromWorker = { type: "opened"; count: number; failed: number } | { type: "got"; stock: number; times: number[] };

if (process.argv[2] === "worker") await worker();
else await driver();

/** A client process: `count` sockets, one subscription each; reports receipt times per stock value. */
async function worker() {
  const sockets: WebSocket[] = [];
  const receipts = new Map<number, number[]>();
  let expected: number | undefined;
  const report = () => {
    if (expected === undefined) return;
    const times = receipts.get(expected) ?? [];
    if (times.length >= sockets.length) {
      process.send!({ type: "got", stock: expected, times } satisfies FromWorker);
      receipts.delete(expected);
      expected = undefined;
    }
  };
  process.on("message", async (message: ToWorker) => {
    if (message.type === "open") {
      let failed = 0;
      for (let i = 0; i < message.count; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, message.count - i) }, () =>
            new Promise<void>((resolve) => {
              const socket = new WebSocket(message.url, "graphql-transport-ws");
              socket.on("error", () => (failed++, resolve()));
              socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
              socket.on("message", (data) => {
                const m = JSON.parse(String(data)) as { type: string; payload?: any };
                if (m.type === "connection_ack") {
                  socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: QUERY, variables: { ids: [message.productId] } } }));
                  sockets.push(socket);
                  resolve();
                } else if (m.type === "next") {
                  const stock = m.payload.data.stockChanged.stock as number;
                  const list = receipts.get(stock) ?? [];
                  list.push(now());
                  receipts.set(stock, list);
                  if (stock === expected) report();
                }
              });
            }),
          ),
        );
      }
      process.send!({ type: "opened", count: sockets.length, failed } satisfies FromWorker);
    } else if (message.type === "expect") {
      expected = message.stock;
      report();
    } else {
      for (const s of sockets) s.terminate();
      process.exit(0);
    }
  });
}

async function driver() {
  const levels = (process.env.BENCH_LEVELS ?? "1000,5000,10000").split(",").map(Number);
  const mutations = Number(process.env.BENCH_MUTATIONS ?? 15);
  const workerCount = Number(process.env.BENCH_WORKERS ?? 4);
  const dataDir = mkdtempSync(join(tmpdir(), "cartwheel-bench-fanout-"));
  const root = fileURLToPath(new URL("..", import.meta.url));
  const instances = Number(process.env.BENCH_INSTANCES ?? 1);
  if (instances > 1 && !(process.env.BENCH_DATABASE_URL && process.env.BENCH_REDIS_URL)) {
    throw new Error("BENCH_INSTANCES > 1 needs BENCH_DATABASE_URL and BENCH_REDIS_URL (the embedded default is one process)");
  }
  const startServer = () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        NODE_ENV: "development",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        // Shared by the instances: the same signing key, generated once.
        DATA_DIR: dataDir,
        SEED_DEMO: "true",
        SHUTDOWN_DELAY: "0",
        ...(process.env.BENCH_DATABASE_URL ? { DATABASE_URL: process.env.BENCH_DATABASE_URL } : {}),
        ...(process.env.BENCH_REDIS_URL ? { REDIS_URL: process.env.BENCH_REDIS_URL, REDIS_PREFIX: `bench-${process.pid}:` } : {}),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const ready = new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk;
        const match = /"url":"(http:[^"]+)"/.exec(out);
        if (match) resolve(match[1]!);
      });
      child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
    return { child, ready };
  };
  const servers: ChildProcess[] = [];
  const urls: string[] = [];
  // One after the other: the first applies the migrations and seeds.
  for (let i = 0; i < instances; i++) {
    const started = startServer();
    servers.push(started.child);
    urls.push(await started.ready);
  }
  const url = urls[0]!;
  const metricsUrl = url.replace("/graphql", "/metrics");
  const gql = async (query: string, variables: Record<string, unknown> = {}, token?: string) =>
    ((await (await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ query, variables }) })).json()) as { data: any });
  const sql = async () => Number(/^cartwheel_sql_statements_total (\d+)/m.exec(await (await fetch(metricsUrl)).text())?.[1] ?? 0);
  // All instances together.
  const rssKiB = () => servers.reduce((sum, s) => sum + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.pid}/status`, "utf8"))?.[1] ?? 0), 0);

  const staff = (await gql(`mutation { logIn(email: "staff@cartwheel.test", password: "cartwheel-staff") { accessToken } }`)).data.logIn.accessToken as string;
  const productId = (await gql(`{ products(first: 1, filter: { inStock: true }) { edges { node { id } } } }`)).data.products.edges[0].node.id as string;
  const adjust = async () => (await gql(`mutation($p: ID!) { adjustStock(productId: $p, delta: 1) { stock } }`, { p: productId }, staff)).data.adjustStock.stock as number;

  const workers: ChildProcess[] = [];
  const messages = new Map<ChildProcess, ((m: FromWorker) => void)[]>();
  const nextMessage = (w: ChildProcess) => new Promise<FromWorker>((resolve) => messages.get(w)!.push(resolve));
  let subscribed = 0;
  const idleRss = rssKiB();
  // The mutation alone, before anyone subscribes: the baseline the fan-out must not slow down.
  const quiet: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = now();
    await adjust();
    quiet.push(now() - t);
  }
  quiet.sort((a, b) => a - b);
  console.log(`${instances} instance(s) ${urls.join(" ")}; idle RSS ${(idleRss / 1024).toFixed(0)} MiB; adjustStock with no subscribers p50 ${percentile(quiet, 50)} ms`);
  console.log("N       p50 ms  p99 ms  max ms  lost  deliveries/s  sql/event  mutation p50 ms  RSS MiB  KiB/idle subscriber");
  try {
    for (const level of levels) {
      const add = level - subscribed;
      const per = Math.ceil(add / workerCount);
      const opening: Promise<FromWorker>[] = [];
      for (let i = 0, left = add; i < workerCount && left > 0; i++, left -= per) {
        const w = fork(fileURLToPath(import.meta.url), ["worker"], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
        messages.set(w, []);
        w.on("message", (m: FromWorker) => messages.get(w)!.shift()?.(m));
        workers.push(w);
        opening.push(nextMessage(w));
        // Workers spread over the instances; the stock changes go to the first one.
        w.send({ type: "open", url: urls[workers.length % urls.length]!.replace("http", "ws"), count: Math.min(per, left), productId } satisfies ToWorker);
      }
      const opened = await Promise.all(opening);
      subscribed += opened.reduce((n, m) => n + (m.type === "opened" ? m.count : 0), 0);
      // Warm up until every subscriber has an event (all live), then measure.
      const round = async (timeoutMs: number) => {
        const waits = workers.map((w) => nextMessage(w));
        const sent = now();
        const stock = await adjust();
        const mutationMs = now() - sent;
        for (const w of workers) w.send({ type: "expect", stock } satisfies ToWorker);
        const got = await Promise.race([Promise.all(waits), new Promise<null>((r) => setTimeout(() => r(null), timeoutMs))]);
        // A round that timed out leaves its waiters behind: drop them, or they take the next answers.
        if (!got) for (const w of workers) messages.set(w, []);
        return { sent, mutationMs, got };
      };
      for (let i = 0; i < 30 && !(await round(3_000)).got; i++);
      const idle = rssKiB();
      const latencies: number[] = [];
      const mutationTimes: number[] = [];
      let lost = 0;
      const sql0 = await sql();
      const started = now();
      for (let m = 0; m < mutations; m++) {
        const { sent, mutationMs, got } = await round(15_000);
        mutationTimes.push(mutationMs);
        if (!got) {
          lost += subscribed; // counted as lost: not every subscriber had it within 15 s
          continue;
        }
        for (const r of got) if (r.type === "got") for (const t of r.times) latencies.push(t - sent);
        lost += subscribed - got.reduce((n, r) => n + (r.type === "got" ? r.times.length : 0), 0);
      }
      const seconds = (now() - started) / 1000;
      const sqlPerEvent = ((await sql()) - sql0) / mutations;
      latencies.sort((a, b) => a - b);
      mutationTimes.sort((a, b) => a - b);
      const perSubscriber = (idle - idleRss) / subscribed;
      const p = (q: number) => (latencies.length ? percentile(latencies, q) : "-");
      console.log(
        [
          String(subscribed).padEnd(7),
          p(50).padStart(6),
          p(99).padStart(7),
          p(100).padStart(7),
          String(lost).padStart(5),
          (latencies.length / seconds).toFixed(0).padStart(13),
          sqlPerEvent.toFixed(1).padStart(10),
          percentile(mutationTimes, 50).padStart(16),
          (idle / 1024).toFixed(0).padStart(8),
          perSubscriber.toFixed(1).padStart(20),
        ].join(" "),
      );
    }
  } finally {
    for (const w of workers) w.send({ type: "stop" } satisfies ToWorker);
    await Promise.all(servers.map((s) => new Promise((r) => (s.once("exit", r), s.kill("SIGTERM")))));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

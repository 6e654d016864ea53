// The server every benchmark measures: the real app on 127.0.0.1, port 0, seeded. The embedded
// default unless BENCH_DATABASE_URL is set. `done()` stops it and removes its temporary data.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";

export async function startBenchApp(env: Record<string, string> = {}): Promise<{ app: App; done(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "cartwheel-bench-"));
  const app = await startApp(
    loadConfig({
      NODE_ENV: "development",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      DATA_DIR: dataDir,
      SEED_DEMO: "true",
      // Every bench client signs up and logs in from 127.0.0.1: the per-address limits would refuse them.
      SIGNUP_MAX_PER_ADDRESS: "1000000",
      LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "1000000",
      ...(process.env.BENCH_DATABASE_URL ? { DATABASE_URL: process.env.BENCH_DATABASE_URL } : {}),
      // A/B the executor: GRAPHQL_EXECUTOR=graphql-js npm run bench (default jit).
      ...(process.env.GRAPHQL_EXECUTOR ? { GRAPHQL_EXECUTOR: process.env.GRAPHQL_EXECUTOR } : {}),
      ...env,
    }),
  );
  return {
    app,
    async done() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The p-th percentile of sorted latencies, in ms with `digits` decimals. */
export function percentile(sorted: readonly number[], p: number, digits = 1): string {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(digits);
}

/**
 * Sends `total` requests with `concurrency` in flight, each through `send` (which throws on a
 * wrong answer), and returns the rate and the sorted latencies in ms.
 */
export async function measure(total: number, concurrency: number, send: () => Promise<void>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t = performance.now();
        await send();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, latencies };
}

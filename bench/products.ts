// `npm run bench`: requests per second and latency of the catalog's hot paths on a real server.
// Uses the embedded default unless BENCH_DATABASE_URL is set; traffic goes to 127.0.0.1 only,
// bounded by BENCH_REQUESTS (default 2000) per shape. Prints figures; asserts nothing.
import { measure, percentile, startBenchApp } from "./app.ts";

const total = Number(process.env.BENCH_REQUESTS ?? 2000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const { app, done } = await startBenchApp();

const shapes: Record<string, string> = {
  "products(first: 50) flat": `{ products(first: 50) { edges { node { id name price { amountCents currency } } } } }`,
  "products(first: 50) + category + stock": `{ products(first: 50) { totalCount edges { node { id name category { name } stock } } } }`,
  "categories x products(first: 10)": `{ categories { name products(first: 10) { edges { node { id name stock } } } } }`,
};

for (const [name, query] of Object.entries(shapes)) {
  const body = JSON.stringify({ query });
  const statementsBefore = app.db.statementCount();
  const { perSecond, latencies } = await measure(total, concurrency, async () => {
    const res = await fetch(app.url, { method: "POST", headers: { "content-type": "application/json" }, body });
    await res.text();
  });
  const pct = (p: number) => percentile(latencies, p, 2);
  const perRequest = (app.db.statementCount() - statementsBefore) / latencies.length;
  console.log(
    `${name.padEnd(42)} ${perSecond.toFixed(0).padStart(6)} req/s  p50 ${pct(50)} ms  p99 ${pct(99)} ms  ${perRequest.toFixed(1)} SQL/request`,
  );
}
await done();

// `npm run bench:persisted`: what persisted queries cost or save per request on a real server:
// the same small catalog query sent as text, as an APQ hash (POST and GET), and by a partner by
// hash (trusted documents). APQ is cached in Redis when BENCH_REDIS_URL is set, in memory
// otherwise. Traffic goes to 127.0.0.1 only, BENCH_REQUESTS (default 3000) per shape. Prints figures.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measure, percentile, startBenchApp } from "./app.ts";

const total = Number(process.env.BENCH_REQUESTS ?? 3000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const manifest = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
const [id, query] = Object.entries(manifest).find(([, text]) => text.startsWith("query Categories"))!;
const key = randomBytes(24).toString("base64url");
const dir = mkdtempSync(join(tmpdir(), "cartwheel-bench-partners-"));
writeFileSync(join(dir, "partners.json"), JSON.stringify({ partners: [{ id: "bench", keySha256: sha256(key), manifest: join(process.cwd(), "client/generated/persisted-documents.json") }] }));

const { app, done } = await startBenchApp({
  PARTNERS_FILE: join(dir, "partners.json"),
  ...(process.env.BENCH_REDIS_URL ? { REDIS_URL: process.env.BENCH_REDIS_URL, REDIS_PREFIX: `bench:${randomBytes(4).toString("hex")}:` } : {}),
});
const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(query) } };
const json = { "content-type": "application/json" };
// Register the hash once, as a client would after its first PERSISTED_QUERY_NOT_FOUND.
await (await fetch(app.url, { method: "POST", headers: json, body: JSON.stringify({ query, extensions }) })).text();

const shapes: Record<string, () => Promise<Response>> = {
  "POST query text": () => fetch(app.url, { method: "POST", headers: json, body: JSON.stringify({ query }) }),
  "POST APQ hash": () => fetch(app.url, { method: "POST", headers: json, body: JSON.stringify({ extensions }) }),
  "GET APQ hash": () =>
    fetch(`${app.url}?${new URLSearchParams({ extensions: JSON.stringify(extensions) })}`, { headers: { "apollo-require-preflight": "true" } }),
  "POST partner documentId": () =>
    fetch(app.url, { method: "POST", headers: { ...json, "x-partner-key": key }, body: JSON.stringify({ documentId: id }) }),
};

// Warm up every path first, so the first shape measured does not pay for the JIT.
for (const send of Object.values(shapes)) for (let i = 0; i < 300; i++) await (await send()).text();

console.log(`APQ cache: ${process.env.BENCH_REDIS_URL ? "Redis" : "in memory"}; ${concurrency} concurrent; query text ${query.length} bytes`);
for (const [name, send] of Object.entries(shapes)) {
  const { perSecond, latencies } = await measure(total, concurrency, async () => {
    const body = (await (await send()).json()) as { errors?: unknown };
    if (body.errors) throw new Error(`${name}: ${JSON.stringify(body.errors)}`);
  });
  console.log(
    `${name.padEnd(26)} ${perSecond.toFixed(0).padStart(6)} req/s  p50 ${percentile(latencies, 50, 2)} ms  p99 ${percentile(latencies, 99, 2)} ms`,
  );
}
await done();
rmSync(dir, { recursive: true, force: true });

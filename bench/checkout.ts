// `npm run bench:checkout`: checkouts per second on a real server, without and with contention.
// Uses the embedded default unless BENCH_DATABASE_URL is set (use a scratch database: it writes
// users, products and orders). Traffic goes to 127.0.0.1 only, bounded by BENCH_CHECKOUTS
// (default 200) per shape, BENCH_CONCURRENCY (default 16) at a time, except the last two: all
// customers at once racing for one product. Prints figures; asserts nothing.
import { percentile, startBenchApp } from "./app.ts";

const count = Number(process.env.BENCH_CHECKOUTS ?? 200);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const { app, done } = await startBenchApp();

async function gql(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await fetch(app.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: { extensions: { code: string } }[] };
  return body;
}

async function pool<T>(items: T[], fn: (item: T) => Promise<void>, width = concurrency): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const staff = (await gql(`mutation { logIn(email: "staff@cartwheel.test", password: "cartwheel-staff") { accessToken } }`)).data.logIn.accessToken;
const categoryId = (await gql(`{ categories { id } }`)).data.categories[0].id;
const run = Date.now().toString(36);
const users: string[] = [];
await pool(Array.from({ length: count }, (_, i) => i), async (i) => {
  const r = await gql(`mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
    i: { email: `bench-${run}-${i}@example.test`, password: "bench-password", name: `Bench ${i}` },
  });
  users.push(r.data.signUp.accessToken);
});

async function product(slug: string, stock: number): Promise<string> {
  const created = await gql(`mutation($i: ProductInput!) { createProduct(input: $i) { id } }`, {
    i: { slug: `${slug}-${run}`, name: slug, description: "bench", priceCents: 1000, categoryId },
  }, staff);
  const id = created.data.createProduct.id;
  await gql(`mutation($p: ID!, $d: Int!) { adjustStock(productId: $p, delta: $d) { id } }`, { p: id, d: stock }, staff);
  return id;
}

async function measure(name: string, productFor: (i: number) => string, width = concurrency) {
  await pool(users.map((t, i) => [t, i] as const), async ([token, i]) => {
    await gql(`mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { version } }`, { p: productFor(i) }, token);
  });
  const latencies: number[] = [];
  const outcomes = new Map<string, number>();
  const before = app.db.statementCount();
  const started = performance.now();
  await pool(users.map((t, i) => [t, i] as const), async ([token, i]) => {
    const t = performance.now();
    const r = await gql(`mutation($k: String!) { checkout(idempotencyKey: $k) { number } }`, { k: `${name}-${i}` }, token);
    latencies.push(performance.now() - t);
    const outcome = r.errors?.[0]?.extensions.code ?? "placed";
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }, width);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => percentile(latencies, p);
  const sql = ((app.db.statementCount() - before) / latencies.length).toFixed(1);
  console.log(
    `${name.padEnd(34)} ${(latencies.length / seconds).toFixed(0).padStart(5)} checkouts/s  p50 ${pct(50)} ms  p99 ${pct(99)} ms  ${sql} SQL/checkout  ${JSON.stringify(Object.fromEntries(outcomes))}`,
  );
  await pool(users, async (token) => void (await gql(`mutation { clearCart { version } }`, {}, token)));
}

const own = await Promise.all(users.map((_, i) => product(`bench-own-${i}`, 5)));
await measure("one product per customer", (i) => own[i]!);
const hot = await product("bench-hot", Math.floor(count / 2));
await measure(`one hot product (${Math.floor(count / 2)} units)`, () => hot);
// The race: every customer checks out at the same moment (concurrency = customers), for half as
// many units as customers, then for as many (every checkout then holds the stock row's lock).
for (const units of [Math.floor(count / 2), count]) {
  const race = await product(`bench-race-${units}`, units);
  await measure(`${count} at once, one product (${units} units)`, () => race, count);
}

await done();

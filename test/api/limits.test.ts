// Hostile operations: depth, alias, token, directive and cost limits run before anything executes,
// over HTTP and WebSocket alike, and answer QUERY_TOO_COMPLEX with what was exceeded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { sha256Hex } from "../../src/lib/hash.ts";
import type { App } from "../../src/app.ts";
import { DEMO, createTestDatabase, gql, type GqlResponse, logIn, nextWithin, startTestServer, tempDir, uniquePrefix, wsClient } from "../harness/index.ts";

const state = {} as { app: App; dbUrl: string; drop(): Promise<void>; dir: { remove(): void } };
beforeAll(async () => {
  const db = await createTestDatabase();
  const dir = tempDir();
  state.dbUrl = db.url;
  state.drop = db.drop;
  state.dir = dir;
  state.app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path });
});
afterAll(async () => {
  await state.app.stop();
  await state.drop();
  state.dir.remove();
});

/** A valid query whose selections nest `depth` fields deep: products > edges > node > category > products … */
function nested(depth: number): string {
  const cycle = ["products(first: 1)", "edges", "node", "category"] as const;
  const leaf = { "products(first: 1)": "totalCount", edges: "cursor", node: "id", category: "id" };
  let open = "";
  let close = "";
  let last: (typeof cycle)[number] = "products(first: 1)";
  for (let i = 0; i < depth - 1; i++) {
    last = cycle[i % cycle.length]!;
    open += `${last} { `;
    close += " }";
  }
  return `{ ${open}${leaf[last]}${close} }`;
}

function onlyTooComplex(res: { status: number; errors?: { extensions: Record<string, unknown> }[]; data?: unknown }, limit: string) {
  expect(res.status).toBe(400);
  expect(res.data).toBeUndefined();
  expect(res.errors).toHaveLength(1);
  const ext = res.errors![0]!.extensions;
  expect(ext.code).toBe("QUERY_TOO_COMPLEX");
  expect(ext.limit).toBe(limit);
  expect(typeof ext.max).toBe("number");
  expect(ext.actual as number).toBeGreaterThan(ext.max as number);
  return ext;
}

async function wsErrors(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const client = wsClient(state.app.wsUrl, token);
  try {
    const error = await nextWithin(client.iterate({ query, variables })).then(
      () => undefined,
      (e: unknown) => e,
    );
    return error as { extensions: Record<string, unknown> }[] | undefined;
  } finally {
    await client.dispose();
  }
}

async function userCount(): Promise<number> {
  const client = new pg.Client({ connectionString: state.dbUrl });
  await client.connect();
  try {
    return Number((await client.query("SELECT count(*)::int AS n FROM users")).rows[0].n);
  } finally {
    await client.end();
  }
}

describe("document limits", () => {
  it("a depth-15 query is refused with its depth; depth 8 runs", async () => {
    const ok = await gql(state.app.url, nested(8));
    expect(ok.errors).toBeUndefined();
    const ext = onlyTooComplex(await gql(state.app.url, nested(15)), "depth");
    expect(ext.max).toBe(10);
  });

  it("20 aliases are refused by the alias limit; 500 aliases of products, before any of them runs", async () => {
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `p${i}: products(first: 1) { totalCount }`).join(" ")} }`;
    expect((await gql(state.app.url, aliased(15))).errors).toBeUndefined();
    expect(onlyTooComplex(await gql(state.app.url, aliased(20)), "aliases")).toMatchObject({ max: 15, actual: 20 });
    const before = state.app.db.statementCount();
    // 500 aliases are also 4,000 tokens: the parser's limit answers first.
    const res = await gql(state.app.url, aliased(500));
    expect(["aliases", "tokens"]).toContain(res.errors?.[0]?.extensions.limit);
    onlyTooComplex(res, res.errors![0]!.extensions.limit as string);
    expect(state.app.db.statementCount()).toBe(before);
  });

  it("100 aliased logIn and 100 aliased signUp are refused, and no account is made", async () => {
    const users = await userCount();
    const logIns = `mutation { ${Array.from({ length: 100 }, (_, i) => `l${i}: logIn(email: "${DEMO.customer.email}", password: "x") { accessToken }`).join(" ")} }`;
    // 100 aliased log-ins are 1,900 tokens, 100 sign-ups more than 2,000: whichever limit answers, once.
    onlyTooComplex(await gql(state.app.url, logIns), "aliases");
    const signUps = `mutation { ${Array.from({ length: 100 }, (_, i) => `s${i}: signUp(input: { email: "alias${i}@example.test", password: "correct horse battery", name: "A" }) { accessToken }`).join(" ")} }`;
    onlyTooComplex(await gql(state.app.url, signUps), "tokens");
    expect(await userCount()).toBe(users);
  });

  it("too many tokens are refused while parsing", async () => {
    const query = `{ products(first: 1) { edges { node { ${"id ".repeat(3_000)} } } } }`;
    const ext = onlyTooComplex(await gql(state.app.url, query), "tokens");
    expect(ext.max).toBe(2_000);
    expect(ext.actual).toBeGreaterThan(3_000);
  });

  it("5,000 directives get one error from the directive limit", async () => {
    const query = `{ products(first: 1) { totalCount ${"@include(if: true) ".repeat(5_000)} } }`;
    // With the default limits, the token limit stops it first: one error as well.
    onlyTooComplex(await gql(state.app.url, query), "tokens");
    // Raise the token limit so that the directive limit is the one that answers.
    const app = await startTestServer({ databaseUrl: state.dbUrl, dataDir: tempDir().path, env: { MAX_TOKENS: "100000" } });
    try {
      const ext = onlyTooComplex(await gql(app.url, query), "directives");
      expect(ext).toMatchObject({ max: 50, actual: 5_000 });
    } finally {
      await app.stop();
    }
  });

  it("the same limits refuse the same documents over the WebSocket", async () => {
    const depth = await wsErrors(nested(15));
    expect(depth?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "depth" });
    const aliases = await wsErrors(`{ ${Array.from({ length: 20 }, (_, i) => `p${i}: products(first: 1) { totalCount }`).join(" ")} }`);
    expect(aliases).toHaveLength(1);
    expect(aliases?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "aliases", max: 15, actual: 20 });
  });
});

describe("APQ texts stored before a limit was lowered", () => {
  it("are refused when run by hash on an instance with the lower limit (the APQ store is shared through Redis)", async () => {
    const prefix = uniquePrefix();
    const dir = tempDir();
    const generous = await startTestServer({ databaseUrl: state.dbUrl, dataDir: dir.path, redisPrefix: prefix, env: { MAX_DEPTH: "20" } });
    const strict = await startTestServer({ databaseUrl: state.dbUrl, dataDir: dir.path, redisPrefix: prefix });
    try {
      const query = nested(15);
      const extensions = { persistedQuery: { version: 1, sha256Hash: sha256Hex(query) } };
      const post = (url: string, body: object) =>
        fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, ...((await r.json()) as object) }) as GqlResponse);
      expect((await post(generous.url, { query, extensions })).errors).toBeUndefined();
      expect((await post(generous.url, { extensions })).errors).toBeUndefined();
      const refused = await post(strict.url, { extensions });
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "depth", max: 10 });
    } finally {
      await Promise.all([generous.stop(), strict.stop()]);
      dir.remove();
    }
  });
});

describe("cost budget", () => {
  // Cost = 1 + first × (cost of one edge): a nested connection multiplies.
  const heavy = `query($n: Int) { products(first: $n) { edges { node { category { products(first: 100) { edges { node { id } } } } } } } }`;

  it("a connection costs by its first, as a variable too; the refusal says the cost and the budget", async () => {
    expect((await gql(state.app.url, heavy, { n: 5 })).errors).toBeUndefined();
    const ext = onlyTooComplex(await gql(state.app.url, heavy, { n: 40 }), "cost");
    expect(ext.max).toBe(10_000);
    expect(ext.actual).toBeGreaterThan(10_000);
  });

  it("the unpaged category list counts as fifty categories: the catalog rig's nested query runs, fifteen aliased copies do not", async () => {
    const nestedShape = `categories { id name products(first: 20) { edges { node { id name price { amountCents } stock } } } }`;
    expect((await gql(state.app.url, `{ ${nestedShape} }`)).errors).toBeUndefined();
    const copies = `{ ${Array.from({ length: 15 }, (_, i) => `c${i}: categories { products(first: 100) { edges { node { id name description } } } }`).join(" ")} }`;
    const ext = onlyTooComplex(await gql(state.app.url, copies), "cost");
    expect(ext.actual).toBeGreaterThan(15 * 50 * 100);
  });

  it("staff have a larger budget", async () => {
    const token = await logIn(state.app.url, DEMO.staff);
    const res = await gql<{ products: { edges: unknown[] } }>(state.app.url, heavy, { n: 40 }, token);
    expect(res.errors).toBeUndefined();
    expect(res.data!.products.edges).toHaveLength(40);
  });

  it("mutations that hash a password cost more: four log-ins in one request are refused, three run", async () => {
    const logIns = (n: number) => `mutation { ${Array.from({ length: n }, (_, i) => `l${i}: logIn(email: "${DEMO.customer.email}", password: "${DEMO.customer.password}") { accessToken }`).join(" ")} }`;
    const three = await gql(state.app.url, logIns(3));
    expect(three.errors).toBeUndefined();
    onlyTooComplex(await gql(state.app.url, logIns(4)), "cost");
  });

  it("a partner-key request runs on the partner budget", async () => {
    const named = heavy.replace("query(", "query Heavy(");
    const dir = tempDir();
    const key = `cwp_${randomBytes(24).toString("base64url")}`;
    writeFileSync(join(dir.path, "manifest.json"), JSON.stringify({ [`sha256:${sha256Hex(named)}`]: named }));
    writeFileSync(join(dir.path, "partners.json"), JSON.stringify({ partners: [{ id: "bulk", keySha256: sha256Hex(key), manifest: "manifest.json" }] }));
    const app = await startTestServer({ databaseUrl: state.dbUrl, dataDir: dir.path, env: { PARTNERS_FILE: join(dir.path, "partners.json"), COST_LIMIT_PARTNER: "20000" } });
    try {
      const send = async (variables: Record<string, unknown>, headers: Record<string, string>) => {
        const res = await fetch(app.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query: named, variables }) });
        return { status: res.status, ...((await res.json()) as object) } as GqlResponse<{ products: { edges: unknown[] } }>;
      };
      const asPartner = await send({ n: 40 }, { "x-partner-key": key });
      expect(asPartner.errors).toBeUndefined();
      expect(asPartner.data!.products.edges).toHaveLength(40);
      onlyTooComplex(await send({ n: 40 }, {}), "cost");
      expect(onlyTooComplex(await send({ n: 80 }, { "x-partner-key": key }), "cost").max).toBe(20_000);
      // A bad token next to the key is refused as without it (401), not answered with a 500.
      const badToken = await send({ n: 1 }, { "x-partner-key": key, authorization: "Bearer not-a-token" });
      expect(badToken.status).toBe(401);
      expect(badToken.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    } finally {
      await app.stop();
      dir.remove();
    }
  });

  it("the WebSocket applies the same budget with the connection's viewer", async () => {
    const anonymous = await wsErrors(heavy, { n: 40 });
    expect(anonymous?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "cost", max: 10_000 });
    const token = await logIn(state.app.url, DEMO.staff);
    expect(await wsErrors(heavy, { n: 40 }, token)).toBeUndefined();
  });
});

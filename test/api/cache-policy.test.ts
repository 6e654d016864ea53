// The cache-control header of /graphql responses: one policy per document from the schema's hints
// (server/plugins/cache-policy.ts), private for signed-in callers, no-store with errors.
import { describe, expect, it } from "vitest";
import { DEMO, logIn, useTestServer } from "../harness/index.ts";

const server = useTestServer();

async function headersOf(query: string, token?: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(server.app.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { errors?: unknown[] };
  return { cacheControl: res.headers.get("cache-control"), errors: body.errors };
}

// Matches no product: nothing under `node` resolves, so only the selection can tell (Apollo's
// per-field plugin, which saw resolved fields only, answered `public` here).
const NOTHING = `filter: { search: "no product is called this" }`;

describe("cache-control from the document's policy", () => {
  it("the public catalog is public for anonymous callers", async () => {
    expect(await headersOf(`{ products(first: 2) { edges { node { name stock } } } categories { name } }`)).toEqual({ cacheControl: "max-age=10, public", errors: undefined });
  });

  it("a private field makes the response private, even where nothing resolved it", async () => {
    expect(await headersOf(`{ products(${NOTHING}) { edges { node { name costPrice { amountCents } } } } }`)).toEqual({ cacheControl: "max-age=10, private", errors: undefined });
  });

  it("a private field hidden in a fragment counts", async () => {
    const query = `{ products(${NOTHING}) { edges { node { ...Details } } } } fragment Details on Product { name ... on Product { costPrice { amountCents } } }`;
    expect(await headersOf(query)).toEqual({ cacheControl: "max-age=10, private", errors: undefined });
  });

  it("a root field outside the catalog next to catalog ones makes it no-store", async () => {
    expect((await headersOf(`{ products(first: 1) { totalCount } me { id } }`)).cacheControl).toBe("no-store");
  });

  it("a signed-in caller's catalog response is private", async () => {
    const customer = await logIn(server.app.url, DEMO.customer);
    expect(await headersOf(`{ products(first: 2) { edges { node { name } } } }`, customer)).toEqual({ cacheControl: "max-age=10, private", errors: undefined });
  });

  it("a response with errors is no-store", async () => {
    const denied = await headersOf(`{ products(first: 1) { edges { node { costPrice { amountCents } } } } }`);
    expect(denied.errors).toHaveLength(1);
    expect(denied.cacheControl).toBe("no-store");
    const invalid = await headersOf(`{ products(first: 1) { edges { node { nope } } } }`);
    expect(invalid.errors).toHaveLength(1);
    expect(invalid.cacheControl).toBe("no-store");
    const badInput = await headersOf(`{ product { name } }`);
    expect(badInput.errors).toHaveLength(1);
    expect(badInput.cacheControl).toBe("no-store");
  });
});

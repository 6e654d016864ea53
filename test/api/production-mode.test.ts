// NODE_ENV=production: introspection is off (HTTP and WebSocket alike) unless INTROSPECTION=true,
// and error messages do not suggest field names ("Did you mean …?").
import { beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { TypenameDocument } from "../generated/graphql.ts";
import { gql, newSigningKey, nextWithin, request, useDatabase, wsClient } from "../harness/index.ts";

const key = newSigningKey();
const apps = {} as { production: App; open: App; development: App };
const db = useDatabase();

beforeAll(async () => {
  apps.production = await db.start({ env: { NODE_ENV: "production", JWT_PRIVATE_KEY: key } });
  apps.open = await db.start({ env: { NODE_ENV: "production", JWT_PRIVATE_KEY: key, INTROSPECTION: "true" } });
  apps.development = await db.start({ env: { NODE_ENV: "development", LOG_LEVEL: "silent" } });
});

const INTROSPECTION = "{ __schema { queryType { name } } }";

async function overSocket(app: App, query: string) {
  const client = wsClient(app.wsUrl);
  try {
    return await nextWithin(client.iterate({ query })).then(
      (result) => ({ result, errors: undefined }),
      (errors: { message: string; extensions: { code: string } }[]) => ({ result: undefined, errors }),
    );
  } finally {
    await client.dispose();
  }
}

describe("introspection", () => {
  it("is refused in production over HTTP and WebSocket, with a message naming INTROSPECTION", async () => {
    const http = await gql(apps.production.url, INTROSPECTION);
    // A validation error: 200 for an application/json client (GraphQL over HTTP), as any other.
    expect(http.status).toBe(200);
    expect(http.data).toBeUndefined();
    expect(http.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    expect(http.errors?.[0]?.message).toMatch(/INTROSPECTION=true/);
    const ws = await overSocket(apps.production, INTROSPECTION);
    expect(ws.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    expect(ws.errors?.[0]?.message).toMatch(/INTROSPECTION=true/);
    // __typename is not introspection of the schema.
    expect((await request(apps.production.url, TypenameDocument)).data).toEqual({ __typename: "Query" });
  });

  it("INTROSPECTION=true turns it on in production; development has it on", async () => {
    for (const app of [apps.open, apps.development]) {
      expect((await gql(app.url, INTROSPECTION)).data).toEqual({ __schema: { queryType: { name: "Query" } } });
      expect((await overSocket(app, INTROSPECTION)).result?.data).toEqual({ __schema: { queryType: { name: "Query" } } });
    }
  });
});

describe("field suggestions", () => {
  const TYPO = "{ prodcts(first: 1) { totalCount } }";
  it("are left out of errors in production, over HTTP and WebSocket", async () => {
    const http = await gql(apps.production.url, TYPO);
    expect(http.errors?.[0]?.message).toBe('Cannot query field "prodcts" on type "Query".');
    const ws = await overSocket(apps.production, TYPO);
    expect(ws.errors?.[0]?.message).toBe('Cannot query field "prodcts" on type "Query".');
  });

  it("are given in development", async () => {
    expect((await gql(apps.development.url, TYPO)).errors?.[0]?.message).toMatch(/Did you mean "products"/);
  });
});

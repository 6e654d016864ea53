// CORS over real HTTP, as a browser would speak it (Origin and Access-Control-Request-* headers;
// Node's fetch sends them as given). The browser's side of it is in test/e2e/cors-browser.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { TypenameDocument } from "../generated/graphql.ts";
import { newSigningKey, textOf, useDatabase } from "../harness/index.ts";

const ALLOWED = "https://shop.example.com";
const ALSO_ALLOWED = "http://127.0.0.1:5173";
const REFUSED = "https://evil.example";
const HEADERS = ["authorization", "content-type", "x-partner-key", "apollo-require-preflight", "x-apollo-operation-name", "x-request-id", "last-event-id"];

let listed: App;
let development: App;
let production: App;
const db = useDatabase();

beforeAll(async () => {
  const start = (env: Record<string, string>) => db.start({ env: { LOG_LEVEL: "silent", ...env } });
  listed = await start({ CORS_ORIGINS: `${ALLOWED},${ALSO_ALLOWED}` });
  development = await start({ NODE_ENV: "development" });
  production = await start({ NODE_ENV: "production", JWT_PRIVATE_KEY: newSigningKey() });
});

const base = (app: App) => `http://127.0.0.1:${app.port}`;

/** What a browser sends before a cross-origin POST with a bearer token and a JSON body. */
function preflight(app: App, origin: string, path = "/graphql", requestHeaders = "authorization,content-type") {
  return fetch(`${base(app)}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders },
  });
}

function query(app: App, origin: string | undefined, path = "/graphql") {
  return fetch(`${base(app)}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(origin ? { origin } : {}) },
    body: JSON.stringify({ query: textOf(TypenameDocument) }),
  });
}

const list = (value: string | null) => (value ?? "").split(",").map((v) => v.trim().toLowerCase()).filter(Boolean);

describe("CORS with an allow-list (CORS_ORIGINS)", () => {
  it("answers the preflight of an allowed origin with that origin, the methods and every header our clients send", async () => {
    for (const origin of [ALLOWED, ALSO_ALLOWED]) {
      const res = await preflight(listed, origin, "/graphql", HEADERS.join(","));
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(origin);
      expect(list(res.headers.get("access-control-allow-methods"))).toEqual(expect.arrayContaining(["get", "post"]));
      expect(list(res.headers.get("access-control-allow-headers")).sort()).toEqual([...HEADERS].sort());
      expect(res.headers.get("access-control-max-age")).toBe("600");
      expect(list(res.headers.get("vary"))).toContain("origin");
      // Bearer tokens only: a browser must never send cookies along.
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    }
  });

  it("marks the actual response for the allowed origin, exposes x-request-id and varies by Origin", async () => {
    const res = await query(listed, ALLOWED);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { __typename: "Query" } });
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(list(res.headers.get("access-control-expose-headers"))).toEqual(["x-request-id"]);
    // Both what CORS and what the cache policy vary by: a shared cache must keep them all apart.
    expect(list(res.headers.get("vary"))).toEqual(expect.arrayContaining(["origin", "accept", "authorization"]));
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("gives a refused origin no Access-Control-Allow-Origin, on the preflight or the response", async () => {
    for (const origin of [REFUSED, "https://shop.example.com.evil.example", "http://shop.example.com"]) {
      const pre = await preflight(listed, origin);
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
      const res = await query(listed, origin);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(list(res.headers.get("vary"))).toContain("origin");
    }
  });

  it("covers /graphql/stream too, and no other path", async () => {
    const stream = await preflight(listed, ALLOWED, "/graphql/stream");
    expect(stream.status).toBe(204);
    expect(stream.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    for (const path of ["/metrics", "/health/ready", "/.well-known/jwks.json"]) {
      const res = await preflight(listed, ALLOWED, path);
      expect(res.headers.get("access-control-allow-origin"), path).toBeNull();
      expect(res.status, path).not.toBe(204);
    }
  });
});

describe("CORS defaults", () => {
  it("development: any origin, as *, never with credentials", async () => {
    const pre = await preflight(development, REFUSED);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(list(pre.headers.get("access-control-allow-headers"))).toEqual(expect.arrayContaining(["authorization", "content-type"]));
    const res = await query(development, "http://localhost:3000");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(list(res.headers.get("access-control-expose-headers"))).toEqual(["x-request-id"]);
  });

  it("production: same origin only (no other origin is allowed; the server's own pages and non-browser clients work)", async () => {
    const pre = await preflight(production, ALLOWED);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect((await query(production, REFUSED)).headers.get("access-control-allow-origin")).toBeNull();
    // A same-origin POST carries its own Origin and needs no CORS header to be read by the page.
    const own = await query(production, base(production));
    expect(own.status).toBe(200);
    expect(await own.json()).toEqual({ data: { __typename: "Query" } });
    const server = await query(production, undefined);
    expect(await server.json()).toEqual({ data: { __typename: "Query" } });
  });
});

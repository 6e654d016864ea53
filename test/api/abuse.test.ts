// Anonymous abuse: sign-ups and log-ins per client address are rate limited (shared by every
// instance through Redis), and an oversized request gets its documented 413 answer.
import { request as httpRequest } from "node:http";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LogInDocument, SignUpDocument, TypenameDocument } from "../generated/graphql.ts";
import { codeOf, request, textOf, useInstancePair } from "../harness/index.ts";

const pair = useInstancePair({ SIGNUP_MAX_PER_ADDRESS: "3", LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "4" });
let n = 0;
const signUpOn = (url: string) =>
  request(url, SignUpDocument, {
    input: { email: `abuse-${Date.now()}-${(n += 1)}@example.test`, password: "correct horse battery", name: "A" },
  });

describe("password rate limits per client address", () => {
  it("signUp: the fourth from one address, on either instance, is RATE_LIMITED with retryAfterSeconds", async () => {
    const results = [await signUpOn(pair.a.url), await signUpOn(pair.b.url), await signUpOn(pair.a.url), await signUpOn(pair.b.url)];
    expect(results.slice(0, 3).map((r) => r.errors)).toEqual([undefined, undefined, undefined]);
    const refused = results[3]!;
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions.code).toBe("RATE_LIMITED");
    expect(refused.errors?.[0]?.extensions.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.data).toBeNull();
  });

  it("logIn attempts count whatever their outcome", async () => {
    const codes = [];
    for (let i = 0; i < 5; i++) {
      codes.push(codeOf(await request(pair.a.url, LogInDocument, { email: `nobody-${i}@example.test`, password: "x" })));
    }
    expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]);
  });
});

/** POSTs `size` bytes of JSON with node:http, reporting the answer or the socket error. */
function post(url: string, body: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", (error) => resolve({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
    req.end(body);
  });
}

describe("oversized requests", () => {
  it("a body over 1 MiB is answered 413 with a JSON error (no connection reset), and the server stays up", async () => {
    // Over the limit by its variables, and by its text (a slug written into it: the text is the case).
    const big = JSON.stringify({ query: textOf(SignUpDocument), variables: { input: { email: "x@example.test", password: "x".repeat(2_000_000), name: "A" } } });
    for (const answer of [await post(pair.a.url, big), await post(pair.a.url, JSON.stringify({ query: `{ product(slug: "${"s".repeat(2_000_000)}") { id } }` }))]) {
      expect(answer).toMatchObject({ status: 413 });
      const parsed = JSON.parse((answer as { body: string }).body);
      expect(parsed.errors[0].extensions.code).toBe("BAD_USER_INPUT");
      expect(parsed.errors[0].message).toMatch(/too large/);
    }
    // fetch (undici) sees the answer too.
    const res = await fetch(pair.a.url, { method: "POST", headers: { "content-type": "application/json" }, body: big });
    expect(res.status).toBe(413);
    expect((await request(pair.a.url, TypenameDocument)).data).toEqual({ __typename: "Query" });
  });

  it("a WebSocket message over 1 MiB closes that socket with 1009 and the server stays up", async () => {
    const socket = new WebSocket(pair.a.wsUrl, "graphql-transport-ws");
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    const code = await new Promise<number>((resolve) => {
      socket.once("close", (c) => resolve(c));
      socket.send(JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(2_000_000) } }));
    });
    expect(code).toBe(1009);
    expect((await request(pair.a.url, TypenameDocument)).data).toEqual({ __typename: "Query" });
  });
});

// The client address that per-address limits count: the TCP peer, or behind TRUST_PROXY trusted
// proxies the address they wrote into X-Forwarded-For (never a header a client sent on its own).
import { beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { SignUpDocument } from "../generated/graphql.ts";
import { textOf, useDatabase } from "../harness/index.ts";

const db = useDatabase();
const apps = {} as { direct: App; behindOne: App };
beforeAll(async () => {
  const env = { SIGNUP_MAX_PER_ADDRESS: "1" };
  apps.direct = await db.start({ env });
  apps.behindOne = await db.start({ env: { ...env, TRUST_PROXY: "1" } });
});

let n = 0;
async function signUpFrom(app: App, forwardedFor?: string) {
  const res = await fetch(app.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}) },
    body: JSON.stringify({
      query: textOf(SignUpDocument),
      variables: { input: { email: `xff-${Date.now()}-${(n += 1)}@example.test`, password: "correct horse battery", name: "X" } },
    }),
  });
  const body = (await res.json()) as { errors?: { extensions: { code: string } }[] };
  return body.errors?.[0]?.extensions.code ?? "OK";
}

describe("client address", () => {
  it("behind one trusted proxy, each forwarded client has its own sign-up budget; what a client prepends is ignored", async () => {
    expect(await signUpFrom(apps.behindOne, "203.0.113.1")).toBe("OK");
    expect(await signUpFrom(apps.behindOne, "203.0.113.1")).toBe("RATE_LIMITED");
    expect(await signUpFrom(apps.behindOne, "203.0.113.2")).toBe("OK");
    // A client that sends its own header: the proxy appends the address it saw, which is what counts.
    expect(await signUpFrom(apps.behindOne, "198.51.100.7, 203.0.113.2")).toBe("RATE_LIMITED");
  });

  it("with no trusted proxy (the default), X-Forwarded-For is ignored: the TCP peer is the address", async () => {
    expect(await signUpFrom(apps.direct, "203.0.113.10")).toBe("OK");
    expect(await signUpFrom(apps.direct, "203.0.113.11")).toBe("RATE_LIMITED");
  });
});

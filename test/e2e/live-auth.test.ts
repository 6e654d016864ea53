// Live subscriptions stay as authorized as a fresh request: token expiry and in-band renewal,
// revocations and role changes reaching open sockets on every instance.
import { createClient } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { keyOf } from "../../src/lib/ids.ts";
import { DEMO, gql, logIn, nextWithin, signUp, someProducts, useInstancePair, waitForSubscribers, wsClient } from "../harness/index.ts";

const TTL_SECONDS = 4;
const pair = useInstancePair({ ACCESS_TOKEN_TTL: `${TTL_SECONDS}s` });
const PASSWORD = "correct horse battery";

/** A socket whose close code resolves `closed`, bounded by `ms`. */
function socket(wsUrl: string, token?: string) {
  let resolveClose!: (code: number) => void;
  const closedAt = new Promise<number>((r) => (resolveClose = r));
  // Recorded synchronously when the close arrives (a race against a resolved promise would
  // always answer "open").
  let closedWith: number | undefined;
  const client = wsClient(wsUrl, token, (code) => {
    closedWith ??= code;
    resolveClose(code);
  });
  return {
    client,
    closed: (ms: number) =>
      Promise.race([closedAt, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`socket not closed within ${ms} ms`)), ms))]),
    /** Whether the first socket is still open after a round trip on it: a close the server sent first has arrived by then. */
    isOpen: async () => {
      await nextWithin(client.iterate({ query: "{ __typename }" }), 3_000).catch(() => undefined);
      return closedWith === undefined;
    },
  };
}

const viewerChannel = (userId: string) => `${pair.prefix}VIEWER_CHANGED:${keyOf(userId, "User")}`;

async function addToCart(url: string, token: string, productId: string) {
  const res = await gql(url, `mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { version } }`, { p: productId }, token);
  expect(res.errors).toBeUndefined();
  return res.data.addToCart.version as number;
}

describe("connection_init", () => {
  it("an authorization without a token, or with a bad one, is closed with 4403; none at all is anonymous (API.md)", async () => {
    const closes: number[] = [];
    for (const authorization of ["Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt"]) {
      const code = await new Promise<number>((resolve, reject) => {
        const client = createClient({
          url: pair.a.wsUrl,
          webSocketImpl: WebSocket,
          lazy: false,
          retryAttempts: 0,
          connectionParams: { authorization },
          on: { closed: (event) => resolve((event as { code: number }).code) },
          onNonLazyError: () => {},
        });
        setTimeout(() => {
          void client.dispose();
          reject(new Error(`socket with "${authorization}" not closed within 3 s`));
        }, 3_000).unref();
      });
      closes.push(code);
    }
    expect(closes).toEqual([4403, 4403, 4403, 4403]);
    const anonymous = socket(pair.a.wsUrl);
    try {
      const res = (await nextWithin(anonymous.client.iterate({ query: "subscription { cartUpdated { version } }" })).catch((e) => e)) as unknown;
      expect(JSON.stringify(res)).toContain("UNAUTHENTICATED");
      expect(await anonymous.isOpen()).toBe(true);
    } finally {
      await anonymous.client.dispose();
    }
  });
});

describe("token expiry and renewConnection", () => {
  it("an unrenewed socket is closed with 4403 at expiry; a renewed one keeps its subscription", async () => {
    const [product] = await someProducts(pair.a.url, 1);
    const user = await signUp(pair.a.url);
    const stale = socket(pair.a.wsUrl, user.token);
    const fresh = socket(pair.a.wsUrl, user.token);
    const events = fresh.client.iterate({ query: "subscription { cartUpdated { version } }" });
    try {
      await waitForSubscribers(`${pair.prefix}CART_UPDATED:${keyOf(user.userId, "User")}`, 1);
      const firstExpiry = new Date((JSON.parse(Buffer.from(user.token.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000);
      // Like a client would: renew shortly before the token runs out, so the new one outlives it.
      await new Promise((r) => setTimeout(r, Math.max(0, firstExpiry.getTime() - 1_500 - Date.now())));
      const newToken = await logIn(pair.a.url, { email: user.email, password: PASSWORD });
      const renewed = await nextWithin(
        fresh.client.iterate({ query: "mutation($t: String!) { renewConnection(accessToken: $t) }", variables: { t: newToken } }),
      );
      expect(new Date((renewed as any).data.renewConnection).getTime()).toBeGreaterThan(firstExpiry.getTime());

      expect(await stale.closed((TTL_SECONDS + 3) * 1000)).toBe(4403);
      // The first token has expired now; the renewed socket still delivers.
      expect(Date.now()).toBeGreaterThanOrEqual(firstExpiry.getTime());
      const version = await addToCart(pair.a.url, newToken, product!.id);
      expect(((await nextWithin(events)) as any).data.cartUpdated.version).toBe(version);
      expect(await fresh.isOpen()).toBe(true);
    } finally {
      await events.return?.();
      await stale.client.dispose();
      await fresh.client.dispose();
    }
  });

  it("renewConnection refuses another user's token and is only for sockets", async () => {
    const user = await signUp(pair.a.url);
    const other = await signUp(pair.a.url);
    const s = socket(pair.a.wsUrl, user.token);
    try {
      const refused = (await nextWithin(
        s.client.iterate({ query: "mutation($t: String!) { renewConnection(accessToken: $t) }", variables: { t: other.token } }),
      )) as any;
      expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      const me = (await nextWithin(s.client.iterate({ query: "{ me { id } }" }))) as any;
      expect(me.data.me.id).toBe(user.userId);
      const http = await gql(pair.a.url, "mutation($t: String!) { renewConnection(accessToken: $t) }", { t: user.token }, user.token);
      expect(http.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    } finally {
      await s.client.dispose();
    }
  });
});

describe("revocation reaches open sockets on every instance", () => {
  it("logOutEverywhere on B closes the user's sockets on A and B within a second; others stay open", async () => {
    const user = await signUp(pair.a.url);
    const bystander = await signUp(pair.a.url);
    const onA = socket(pair.a.wsUrl, user.token);
    const onB = socket(pair.b.wsUrl, user.token);
    const other = socket(pair.a.wsUrl, bystander.token);
    try {
      // One watcher per instance for the user: both sockets are really following their user.
      await waitForSubscribers(viewerChannel(user.userId), 2);
      await waitForSubscribers(viewerChannel(bystander.userId), 1);
      const started = Date.now();
      expect((await gql(pair.b.url, "mutation { logOutEverywhere }", {}, user.token)).data.logOutEverywhere).toBe(true);
      expect(await onA.closed(1_000)).toBe(4403);
      expect(await onB.closed(1_000)).toBe(4403);
      expect(Date.now() - started).toBeLessThan(1_000);
      const me = (await nextWithin(other.client.iterate({ query: "{ me { id } }" }))) as any;
      expect(me.data.me.id).toBe(bystander.userId);
    } finally {
      for (const s of [onA, onB, other]) await s.client.dispose();
    }
  });

  it("logOut closes that session's socket only; refresh-token reuse closes its session's socket", async () => {
    const user = await signUp(pair.a.url);
    const session = async () =>
      (await gql(pair.a.url, `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken refreshToken } }`, { e: user.email, p: PASSWORD })).data.logIn;
    const one = await session();
    const two = await session();
    const three = await session();
    const s1 = socket(pair.a.wsUrl, one.accessToken);
    const s2 = socket(pair.a.wsUrl, two.accessToken);
    const s3 = socket(pair.b.wsUrl, three.accessToken);
    try {
      await waitForSubscribers(viewerChannel(user.userId), 2);
      await gql(pair.b.url, "mutation($r: String!) { logOut(refreshToken: $r) }", { r: one.refreshToken });
      expect(await s1.closed(1_000)).toBe(4403);
      // Session three: refresh, then present the old refresh token again.
      const refreshed = await gql(pair.a.url, "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }", { r: three.refreshToken });
      expect(refreshed.errors).toBeUndefined();
      const reuse = await gql(pair.a.url, "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }", { r: three.refreshToken });
      expect(reuse.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
      expect(await s3.closed(1_000)).toBe(4403);
      const me = (await nextWithin(s2.client.iterate({ query: "{ me { id } }" }))) as any;
      expect(me.data.me.id).toBe(user.userId);
    } finally {
      for (const s of [s1, s2, s3]) await s.client.dispose();
    }
  });
});

describe("role changes apply to the next event", () => {
  it("a demoted staff member's orderPlaced stops delivering; promoted again, it delivers", async () => {
    const admin = await logIn(pair.b.url, DEMO.admin);
    const control = await logIn(pair.a.url, DEMO.staff);
    const x = await signUp(pair.a.url);
    const setRole = async (role: string) => {
      const res = await gql(pair.b.url, "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { role } }", { u: x.userId, r: role }, admin);
      expect(res.data.setUserRole.role).toBe(role);
    };
    await setRole("STAFF");
    const buyer = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    let n = 0;
    const placeOrder = async () => {
      await addToCart(pair.a.url, buyer.token, product!.id);
      const res = await gql(pair.a.url, "mutation($k: String!) { checkout(idempotencyKey: $k) { number } }", { k: `role-${(n += 1)}` }, buyer.token);
      expect(res.errors).toBeUndefined();
      return res.data.checkout.number as string;
    };
    const xs = socket(pair.a.wsUrl, x.token);
    const cs = socket(pair.a.wsUrl, control);
    const xEvents = xs.client.iterate({ query: "subscription { orderPlaced { number } }" });
    const cEvents = cs.client.iterate({ query: "subscription { orderPlaced { number } }" });
    try {
      await waitForSubscribers(`${pair.prefix}ORDER_PLACED:all`, 1);
      await waitForSubscribers(viewerChannel(x.userId), 1);
      const first = await placeOrder();
      expect(((await nextWithin(xEvents)) as any).data.orderPlaced.number).toBe(first);
      expect(((await nextWithin(cEvents)) as any).data.orderPlaced.number).toBe(first);

      await setRole("CUSTOMER");
      // The demotion is applied by instance A's watcher; poll (bounded) until X's socket sees it.
      const deadline = Date.now() + 2_000;
      for (;;) {
        const me = (await nextWithin(xs.client.iterate({ query: "{ me { role } }" }))) as any;
        if (me.data.me.role === "CUSTOMER") break;
        if (Date.now() > deadline) throw new Error("role change not applied to the socket within 2 s");
      }
      const pendingX = xEvents.next();
      const second = await placeOrder();
      expect(((await nextWithin(cEvents)) as any).data.orderPlaced.number).toBe(second);
      // Both sockets are fed by the same Redis message; after a round trip on X's own socket its
      // copy would have arrived if it were going to.
      await nextWithin(xs.client.iterate({ query: "{ me { id } }" }));
      await nextWithin(xs.client.iterate({ query: "{ me { id } }" }));
      const raced = await Promise.race([pendingX.then(() => "delivered"), new Promise((r) => setImmediate(() => r("silent")))]);
      expect(raced).toBe("silent");
      expect(await xs.isOpen()).toBe(true);

      await setRole("STAFF");
      const deadline2 = Date.now() + 2_000;
      for (;;) {
        const me = (await nextWithin(xs.client.iterate({ query: "{ me { role } }" }))) as any;
        if (me.data.me.role === "STAFF") break;
        if (Date.now() > deadline2) throw new Error("role change not applied to the socket within 2 s");
      }
      const third = await placeOrder();
      expect(((await Promise.race([pendingX, new Promise((_, j) => setTimeout(() => j(new Error("no event")), 5_000))])) as any).value.data.orderPlaced.number).toBe(third);
    } finally {
      await xEvents.return?.();
      await cEvents.return?.();
      await xs.client.dispose();
      await cs.client.dispose();
    }
  });
});

// Live subscriptions stay as authorized as a fresh request: token expiry and in-band renewal,
// revocations and role changes reaching open sockets on every instance.
import { createClient, type Client } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { keyOf } from "../../src/lib/ids.ts";
import {
  CartVersionDocument,
  LogInSessionDocument,
  LogOutDocument,
  LogOutEverywhereDocument,
  MeIdDocument,
  MeRoleDocument,
  OrderPlacedNumberDocument,
  RefreshSessionDocument,
  RenewConnectionDocument,
  SetUserRoleDocument,
  TypenameDocument,
  type Role,
} from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { DEMO, codeOf, logIn, nextWithin, ok, request, signUp, someProducts, subscribe, useInstancePair, waitForSubscribers, wsClient } from "../harness/index.ts";

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
      await nextWithin(subscribe(client, TypenameDocument), 3_000).catch(() => undefined);
      return closedWith === undefined;
    },
  };
}

const viewerChannel = (userId: string) => `${pair.prefix}VIEWER_CHANGED:${keyOf(userId, "User")}`;

async function addToCart(url: string, token: string, productId: string): Promise<number> {
  return ok(await fixtures.addToCart(url, token, productId, 1)).addToCart.version;
}

/** The signed-in user's id (or role) as the socket's connection sees it now. */
const meOn = async (client: Client) => (await nextWithin(subscribe(client, MeIdDocument))).data?.me?.id;
const roleOn = async (client: Client) => (await nextWithin(subscribe(client, MeRoleDocument))).data?.me?.role;

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
      const res = (await nextWithin(subscribe(anonymous.client, CartVersionDocument)).catch((e) => e)) as unknown;
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
    const events = subscribe(fresh.client, CartVersionDocument);
    try {
      await waitForSubscribers(`${pair.prefix}CART_UPDATED:${keyOf(user.userId, "User")}`, 1);
      const firstExpiry = new Date((JSON.parse(Buffer.from(user.token.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000);
      // Like a client would: renew shortly before the token runs out, so the new one outlives it.
      await new Promise((r) => setTimeout(r, Math.max(0, firstExpiry.getTime() - 1_500 - Date.now())));
      const newToken = await logIn(pair.a.url, { email: user.email, password: PASSWORD });
      const renewed = await nextWithin(subscribe(fresh.client, RenewConnectionDocument, { accessToken: newToken }));
      expect(new Date(renewed.data!.renewConnection).getTime()).toBeGreaterThan(firstExpiry.getTime());

      expect(await stale.closed((TTL_SECONDS + 3) * 1000)).toBe(4403);
      // The first token has expired now; the renewed socket still delivers.
      expect(Date.now()).toBeGreaterThanOrEqual(firstExpiry.getTime());
      const version = await addToCart(pair.a.url, newToken, product!.id);
      expect((await nextWithin(events)).data?.cartUpdated.version).toBe(version);
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
      const refused = await nextWithin(subscribe(s.client, RenewConnectionDocument, { accessToken: other.token }));
      expect(codeOf(refused)).toBe("FORBIDDEN");
      expect(await meOn(s.client)).toBe(user.userId);
      const http = await request(pair.a.url, RenewConnectionDocument, { accessToken: user.token }, user.token);
      expect(codeOf(http)).toBe("BAD_USER_INPUT");
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
      expect((await request(pair.b.url, LogOutEverywhereDocument, {}, user.token)).data?.logOutEverywhere).toBe(true);
      expect(await onA.closed(1_000)).toBe(4403);
      expect(await onB.closed(1_000)).toBe(4403);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await meOn(other.client)).toBe(bystander.userId);
    } finally {
      for (const s of [onA, onB, other]) await s.client.dispose();
    }
  });

  it("logOut closes that session's socket only; refresh-token reuse closes its session's socket", async () => {
    const user = await signUp(pair.a.url);
    const session = async () =>
      ok(await request(pair.a.url, LogInSessionDocument, { email: user.email, password: PASSWORD })).logIn;
    const one = await session();
    const two = await session();
    const three = await session();
    const s1 = socket(pair.a.wsUrl, one.accessToken);
    const s2 = socket(pair.a.wsUrl, two.accessToken);
    const s3 = socket(pair.b.wsUrl, three.accessToken);
    try {
      await waitForSubscribers(viewerChannel(user.userId), 2);
      await request(pair.b.url, LogOutDocument, { refreshToken: one.refreshToken });
      expect(await s1.closed(1_000)).toBe(4403);
      // Session three: refresh, then present the old refresh token again.
      const refreshed = await request(pair.a.url, RefreshSessionDocument, { refreshToken: three.refreshToken });
      expect(refreshed.errors).toBeUndefined();
      const reuse = await request(pair.a.url, RefreshSessionDocument, { refreshToken: three.refreshToken });
      expect(codeOf(reuse)).toBe("UNAUTHENTICATED");
      expect(await s3.closed(1_000)).toBe(4403);
      expect(await meOn(s2.client)).toBe(user.userId);
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
    const setRole = async (role: Role) => {
      const res = await request(pair.b.url, SetUserRoleDocument, { userId: x.userId, role }, admin);
      expect(res.data?.setUserRole.role).toBe(role);
    };
    await setRole("STAFF");
    const buyer = await signUp(pair.a.url);
    const [product] = await someProducts(pair.a.url, 1);
    let n = 0;
    const placeOrder = async () => {
      await addToCart(pair.a.url, buyer.token, product!.id);
      const res = await fixtures.checkout(pair.a.url, buyer.token, `role-${(n += 1)}`);
      expect(res.errors).toBeUndefined();
      return res.data!.checkout.number;
    };
    const xs = socket(pair.a.wsUrl, x.token);
    const cs = socket(pair.a.wsUrl, control);
    const xEvents = subscribe(xs.client, OrderPlacedNumberDocument);
    const cEvents = subscribe(cs.client, OrderPlacedNumberDocument);
    try {
      await waitForSubscribers(`${pair.prefix}ORDER_PLACED:all`, 1);
      await waitForSubscribers(viewerChannel(x.userId), 1);
      const first = await placeOrder();
      expect((await nextWithin(xEvents)).data?.orderPlaced.number).toBe(first);
      expect((await nextWithin(cEvents)).data?.orderPlaced.number).toBe(first);

      await setRole("CUSTOMER");
      // The demotion is applied by instance A's watcher; poll (bounded) until X's socket sees it.
      const deadline = Date.now() + 2_000;
      for (;;) {
        if ((await roleOn(xs.client)) === "CUSTOMER") break;
        if (Date.now() > deadline) throw new Error("role change not applied to the socket within 2 s");
      }
      const pendingX = xEvents.next();
      const second = await placeOrder();
      expect((await nextWithin(cEvents)).data?.orderPlaced.number).toBe(second);
      // Both sockets are fed by the same Redis message; after a round trip on X's own socket its
      // copy would have arrived if it were going to.
      await meOn(xs.client);
      await meOn(xs.client);
      const raced = await Promise.race([pendingX.then(() => "delivered"), new Promise((r) => setImmediate(() => r("silent")))]);
      expect(raced).toBe("silent");
      expect(await xs.isOpen()).toBe(true);

      await setRole("STAFF");
      const deadline2 = Date.now() + 2_000;
      for (;;) {
        if ((await roleOn(xs.client)) === "STAFF") break;
        if (Date.now() > deadline2) throw new Error("role change not applied to the socket within 2 s");
      }
      const third = await placeOrder();
      const delivered = await Promise.race([pendingX, new Promise<never>((_, j) => setTimeout(() => j(new Error("no event")), 5_000))]);
      expect(delivered.done ? undefined : delivered.value.data?.orderPlaced.number).toBe(third);
    } finally {
      await xEvents.return?.();
      await cEvents.return?.();
      await xs.client.dispose();
      await cs.client.dispose();
    }
  });
});

import { expect, it } from "vitest";
import { keyOf } from "../../src/lib/ids.ts";
import { CartVersionDocument, FirstInStockProductIdDocument, OrderUpdatedNumberDocument } from "../generated/graphql.ts";
import * as fixtures from "../harness/fixtures.ts";
import { nextWithin, logIn, DEMO, request, signUp, subscribe, uniquePrefix, useTestServer, subscriberCount, waitForSubscribers, wsClient } from "../harness/index.ts";

const prefix = uniquePrefix();
const server = useTestServer({ redisPrefix: prefix });

/** Polls until the channel has no subscriber, bounded. */
async function waitForNoSubscribers(channel: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (subscriberCount(channel) > 0) {
    if (Date.now() > deadline) throw new Error(`${channel} still has subscribers after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it("completing an idle subscription releases its subscription at once, not at the next event", async () => {
  const user = await signUp(server.app.url);
  const staff = await logIn(server.app.url, DEMO.staff);
  const channel = `${prefix}CART_UPDATED:${keyOf(user.userId, "User")}`;
  const ordersChannel = `${prefix}ANY_ORDER_UPDATED:all`;
  const client = wsClient(server.app.wsUrl, user.token);
  const staffClient = wsClient(server.app.wsUrl, staff);
  try {
    const cart = subscribe(client, CartVersionDocument);
    const orders = subscribe(staffClient, OrderUpdatedNumberDocument);
    const pendingCart = cart.next();
    const pendingOrders = orders.next();
    await waitForSubscribers(channel, 1);
    await waitForSubscribers(ordersChannel, 1);
    // No event ever arrives on either: the server must still let go when the client completes.
    await cart.return?.();
    await orders.return?.();
    await waitForNoSubscribers(channel);
    await waitForNoSubscribers(ordersChannel);
    void pendingCart.catch(() => {});
    void pendingOrders.catch(() => {});
    // The socket stays usable: a new subscription on it works.
    const again = subscribe(client, CartVersionDocument);
    await waitForSubscribers(channel, 1);
    const [product] = (await request(server.app.url, FirstInStockProductIdDocument)).data!.products.edges;
    const add = await fixtures.addToCart(server.app.url, user.token, product!.node.id, 1);
    expect(add.errors).toBeUndefined();
    const event = await nextWithin(again);
    expect(event.data?.cartUpdated.version).toBe(add.data!.addToCart.version);
    await again.return?.();
  } finally {
    await client.dispose();
    await staffClient.dispose();
  }
});

/**
 * `npm run example:storefront [-- <graphql url>]`: a storefront session through the typed client.
 * Logs in as the demo customer, browses, fills the cart while watching `cartUpdated` and
 * `orderUpdated` (over graphql-ws, or SSE), checks out, and prints what happened. Then it
 * resumes: the app goes offline keeping the cursor of the last cart event, the cart changes
 * meanwhile, and a new client subscribing after that cursor gets the change it missed. Exits 1
 * on any failure, including an expected event that does not arrive within its timeout.
 *
 * Environment: CARTWHEEL_URL (default http://localhost:4000/graphql), CARTWHEEL_EMAIL and
 * CARTWHEEL_PASSWORD (default: the embedded default's demo customer), CARTWHEEL_TRANSPORT (`ws`,
 * the default, or `sse`: subscriptions over GraphQL over SSE at <url>/stream).
 */
import { randomUUID } from "node:crypto";
import { createCartwheelClient, type CartwheelClient, type CartwheelSubscription } from "../client/index.ts";
import {
  AddToCartDocument,
  CartUpdatedDocument,
  CategoriesDocument,
  CheckoutDocument,
  ClearCartDocument,
  LogInDocument,
  MyOrdersDocument,
  OrderUpdatedDocument,
  ProductsDocument,
  SetCartItemQuantityDocument,
  type CartFieldsFragment,
  type CartUpdatedSubscription,
  type OrderFieldsFragment,
} from "../client/generated/graphql.ts";

const EVENT_TIMEOUT_MS = 10_000;
const url = process.argv[2] ?? process.env.CARTWHEEL_URL ?? "http://localhost:4000/graphql";
const email = process.env.CARTWHEEL_EMAIL ?? "customer@cartwheel.test";
const password = process.env.CARTWHEEL_PASSWORD ?? "cartwheel-customer";
const transport = process.env.CARTWHEEL_TRANSPORT === "sse" ? "sse" : "ws";

const money = (m: { amountCents: number; currency: string }) => `${(m.amountCents / 100).toFixed(2)} ${m.currency}`;
const describeCart = ({ cartUpdated: c }: CartUpdatedSubscription) => `cartUpdated v${c.version}: ${c.itemCount} item(s), ${money(c.subtotal)} (cursor ${c.cursor})`;
const log = (line: string) => console.log(line);

/** Collects a subscription's results and lets the caller wait for one that matches. */
function watch<T>(source: AsyncIterableIterator<T>, describe: (value: T) => string) {
  const seen: T[] = [];
  const waiters: { match: (value: T) => boolean; resolve: (value: T) => void }[] = [];
  let failure: unknown;
  void (async () => {
    try {
      for await (const value of source) {
        seen.push(value);
        log(`  event: ${describe(value)}`);
        for (const waiter of [...waiters]) {
          if (waiter.match(value)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(value);
          }
        }
      }
    } catch (error) {
      failure = error;
    }
  })();
  return {
    seen,
    until(match: (value: T) => boolean, what: string, timeoutMs = EVENT_TIMEOUT_MS): Promise<T> {
      const already = seen.find(match);
      if (already) return Promise.resolve(already);
      if (failure) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => {
        const waiter = { match, resolve: (value: T) => (clearTimeout(timer), resolve(value)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
}

async function run(client: CartwheelClient, setToken: (token: string) => void): Promise<CartwheelSubscription<CartUpdatedSubscription>> {
  const { logIn } = await client.request(LogInDocument, { email, password });
  setToken(logIn.accessToken);
  log(`Logged in as ${logIn.user.name} <${logIn.user.email}> (${logIn.user.role}); subscriptions over ${transport === "sse" ? "SSE" : "WebSocket"}`);

  // Subscribe first, so the cart changes and the order below are seen as they happen.
  const cartSubscription = client.subscribe(CartUpdatedDocument);
  const cartEvents = watch(cartSubscription, describeCart);
  const orderEvents = watch(client.subscribe(OrderUpdatedDocument, {}), ({ orderUpdated: o }) => `orderUpdated ${o.number}: ${o.status}`);

  const { categories } = await client.request(CategoriesDocument);
  log(`Categories: ${categories.map((c) => c.name).join(", ")}`);
  const { products } = await client.request(ProductsDocument, { first: 3, filter: { inStock: true } });
  log(`First in-stock products (of ${products.totalCount}):`);
  for (const { node } of products.edges) log(`  ${node.name} (${node.category.name}) ${money(node.price)}, ${node.stock} in stock`);
  if (products.edges.length < 2) throw new Error("the shop needs at least two products in stock");

  await client.request(ClearCartDocument);
  const [first, second] = products.edges.map((e) => e.node);
  // graphql-ws does not acknowledge a subscription, so it may go live on the server a moment after
  // it is sent: add the first product and wait for that change's event, adding again (bounded)
  // until one arrives, so no later change goes unseen.
  let cart: CartFieldsFragment | undefined;
  for (let attempt = 1; ; attempt++) {
    cart = (await client.request(AddToCartDocument, { productId: first!.id, quantity: 1 })).addToCart;
    const version = cart.version;
    try {
      await cartEvents.until((e) => e.cartUpdated.version >= version, `cartUpdated v${version}`, 1_000);
      break;
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
  if (cart.items.find((i) => i.product.id === first!.id)!.quantity > 1) {
    cart = (await client.request(SetCartItemQuantityDocument, { productId: first!.id, quantity: 1 })).setCartItemQuantity;
  }
  log(`Added 1 x ${first!.name}: cart v${cart.version} holds ${cart.itemCount} item(s), ${money(cart.subtotal)}`);
  cart = (await client.request(AddToCartDocument, { productId: second!.id, quantity: 2 })).addToCart;
  log(`Added 2 x ${second!.name}: cart v${cart.version} holds ${cart.itemCount} item(s), ${money(cart.subtotal)}`);
  const finalVersion = cart.version;
  await cartEvents.until((e) => e.cartUpdated.version === finalVersion, `cartUpdated v${finalVersion}`);

  const { checkout: order } = await client.request(CheckoutDocument, { idempotencyKey: randomUUID() });
  log(`Checked out: order ${order.number}, ${order.status}, total ${money(order.total)}`);
  for (const item of order.items) log(`  ${item.quantity} x ${item.product.name} at ${money(item.unitPrice)}`);
  const placed: OrderFieldsFragment = (
    await orderEvents.until((e) => e.orderUpdated.id === order.id, `orderUpdated for ${order.number}`)
  ).orderUpdated;
  const emptied = await cartEvents.until((e) => e.cartUpdated.itemCount === 0 && e.cartUpdated.version > finalVersion, "the emptied cart");

  const { orders } = await client.request(MyOrdersDocument, { first: 5 });
  log(`Orders on the account: ${orders.totalCount}; newest ${orders.edges[0]?.node.number}`);
  log(
    `Summary: ${cartEvents.seen.length} cartUpdated and ${orderEvents.seen.length} orderUpdated event(s); ` +
      `order ${placed.number} is ${placed.status}; cart back to v${emptied.cartUpdated.version} with 0 items.`,
  );
  return cartSubscription;
}

/**
 * Resuming: a dropped connection resumes by itself (the client resubscribes after the last event's
 * cursor); here the whole app goes away, keeping only the cursor (an app would persist it), and
 * a new client starts after it.
 */
async function resume(client: CartwheelClient, cart: CartwheelSubscription<CartUpdatedSubscription>, token: () => string | undefined) {
  const saved = cart.cursor;
  if (!saved) throw new Error("the cart subscription has no cursor");
  await client.dispose();
  log(`Offline: the app closed its connection, keeping cursor ${saved}`);
  const { products } = await client.request(ProductsDocument, { first: 1, filter: { inStock: true } });
  const product = products.edges[0]!.node;
  const { addToCart: changed } = await client.request(AddToCartDocument, { productId: product.id, quantity: 1 });
  log(`Meanwhile, on another device: added 1 x ${product.name}, cart v${changed.version}`);

  const restarted = createCartwheelClient({ url, token, transport });
  try {
    const events = watch(restarted.subscribe(CartUpdatedDocument, {}, { after: saved }), describeCart);
    const missed = await events.until((e) => e.cartUpdated.version >= changed.version, `the missed cartUpdated v${changed.version}`);
    if (events.seen[0] !== missed) throw new Error(`the first event after the cursor is v${events.seen[0]!.cartUpdated.version}, not v${changed.version}`);
    log(`Back online: subscribed after the saved cursor; the missed change arrived first: cart v${missed.cartUpdated.version} with ${missed.cartUpdated.itemCount} item(s)`);
  } finally {
    await restarted.dispose();
  }
}

let token: string | undefined;
const client = createCartwheelClient({ url, token: () => token, transport });
try {
  const cart = await run(client, (next) => (token = next));
  await resume(client, cart, () => token);
  log("Storefront example finished.");
} catch (error) {
  console.error(`Storefront example failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await client.dispose();
}

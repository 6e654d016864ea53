// The explorer in a real browser against a real server, with the internet cut off: every request
// to a host other than 127.0.0.1 is aborted and recorded, so a CDN reference fails the test.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { AdjustStockDocument, FirstInStockProductDocument } from "../generated/graphql.ts";
import { DEMO, createTestDatabase, gql, logIn, ok, request, startTestServer, tempDir, uniquePrefix, waitForSubscribers } from "../harness/index.ts";

const WAIT_MS = 15_000;
const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));

let app: App;
let withoutExplorer: App;
let prefix: string;
let browser: Browser;
let dispose: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const db = await createTestDatabase();
  const dir = tempDir();
  const started: App[] = [];
  dispose = async () => {
    await browser?.close();
    await Promise.all(started.map((a) => a.stop()));
    await db.drop();
    dir.remove();
  };
  prefix = uniquePrefix();
  // Redis pub/sub so the test can see the page's subscription reach the server before it publishes.
  // SEED_DEMO only puts the demo accounts on the page: the cloned database is already seeded.
  app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, redisPrefix: prefix, env: { SEED_DEMO: "true" } });
  started.push(app);
  withoutExplorer = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, env: { EXPLORER: "false" } });
  started.push(withoutExplorer);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});
afterAll(() => dispose?.());

const endpoint = (server: App = app) => `http://127.0.0.1:${server.port}/graphql`;

interface Session {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught page errors and CSP violations. */
  problems: string[];
  /** Every request or WebSocket to a host other than 127.0.0.1. */
  offHost: string[];
}

async function openBrowser(): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  const offHost: string[] = [];
  const isOffHost = (raw: string) => {
    const url = new URL(raw);
    return ["http:", "https:", "ws:", "wss:"].includes(url.protocol) && url.hostname !== "127.0.0.1";
  };
  await context.route("**/*", (route) => (isOffHost(route.request().url()) ? route.abort() : route.continue()));
  context.on("request", (request) => {
    if (isOffHost(request.url())) offHost.push(request.url());
  });
  await context.exposeFunction("__reportCspViolation", (text: string) => problems.push(`CSP violation: ${text}`));
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      (window as unknown as { __reportCspViolation(text: string): void }).__reportCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`,
      );
    });
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("websocket", (socket) => {
    if (isOffHost(socket.url())) offHost.push(socket.url());
  });
  return { context, page, problems, offHost };
}

/** Opens the explorer (optionally with a prepared query) and waits until GraphiQL is ready. */
async function openExplorer(page: Page, query?: string, variables?: Record<string, unknown>): Promise<void> {
  const search = new URLSearchParams({ ...(query === undefined ? {} : { query }), ...(variables ? { variables: JSON.stringify(variables) } : {}) });
  const response = await page.goto(`${endpoint()}${search.size ? `?${search}` : ""}`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()["content-type"]).toMatch(/^text\/html/);
  await page.locator(".graphiql-execute-button").waitFor({ timeout: WAIT_MS });
  if (query !== undefined) await page.locator(".graphiql-query-editor", { hasText: query.slice(0, 20) }).waitFor({ timeout: WAIT_MS });
}

async function execute(page: Page): Promise<void> {
  await page.locator(".graphiql-execute-button").click();
}

/** Waits until GraphiQL's result pane contains `text`. */
async function resultShows(page: Page, text: string, timeout = WAIT_MS): Promise<void> {
  await page.locator(".result-window", { hasText: text }).waitFor({ timeout });
}

/** Runs `body` in a fresh browser context, then requires that nothing left 127.0.0.1 and nothing failed in the page. */
async function inBrowser(body: (session: Session) => Promise<void>): Promise<void> {
  const session = await openBrowser();
  try {
    await body(session);
    expect(session.offHost).toEqual([]);
    expect(session.problems).toEqual([]);
  } finally {
    await session.context.close();
  }
}

async function setToken(page: Page, token: string): Promise<void> {
  await page.locator("#explorer-token").fill(token);
  await page.locator("#explorer-token").press("Enter");
}

describe("GraphiQL explorer, bundled (no internet)", { timeout: 60_000 }, () => {
  it("renders GraphiQL with docs, a default query, the demo accounts, and runs a query from ?query=", async () => {
    const query = `query Products { products(first: 5) { edges { node { id name stock } } } }`;
    type Products = { products: { edges: { node: { id: string; name: string; stock: number } }[] } };
    const expected = (await gql<Products>(endpoint(), query)).data!.products.edges[0]!.node.name;
    expect(expected).toBeTruthy();
    await inBrowser(async ({ page }) => {
      await openExplorer(page);
      await page.locator(".graphiql-query-editor", { hasText: "products(first" }).waitFor({ timeout: WAIT_MS });
      for (const account of Object.values(DEMO)) await page.getByText(account.email).first().waitFor({ timeout: WAIT_MS });
      await page.getByText("cartwheel-customer").first().waitFor({ timeout: WAIT_MS });
      // The schema came through introspection: the docs list the root types.
      await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
      await page.locator(".graphiql-doc-explorer", { hasText: "Subscription" }).waitFor({ timeout: WAIT_MS });
      // GraphiQL's dialogs add <style> elements: a CSP without inline styles would report violations here.
      await page.locator('.graphiql-sidebar button[aria-label="Open settings dialog"]').click();
      await page.locator(".graphiql-dialog", { hasText: "Theme" }).waitFor({ timeout: WAIT_MS });
      await page.keyboard.press("Escape");
      await page.locator(".graphiql-dialog").waitFor({ state: "detached", timeout: WAIT_MS });

      await openExplorer(page, query);
      await execute(page);
      await resultShows(page, expected);

      // ?variables= fills the variables editor.
      const third = (await gql<Products>(endpoint(), query)).data!.products.edges[2]!.node;
      await openExplorer(page, `query One($id: ID!) { product(id: $id) { name } }`, { id: third.id });
      await execute(page);
      await resultShows(page, third.name);
    });
  });

  it("runs a stockChanged subscription over graphql-ws and shows a stock change made through the API", async () => {
    const product = ok(await request(endpoint(), FirstInStockProductDocument)).products.edges[0]!.node;
    const staff = await logIn(endpoint(), DEMO.staff);
    const target = Math.max(9137, product.stock + 1);
    await inBrowser(async ({ page }) => {
      await openExplorer(page, `subscription Stock { stockChanged(productIds: ["${product.id}"]) { stock inStock product { id name } } }`);
      await setToken(page, staff);
      // Frames are recorded from the socket's creation on: waiting for them afterwards could miss them.
      const sockets: string[] = [];
      const sent: string[] = [];
      page.on("websocket", (socket) => {
        sockets.push(socket.url());
        socket.on("framesent", (frame) => sent.push(String(frame.payload)));
      });
      await execute(page);
      const frame = (type: string) => sent.map((f) => JSON.parse(f) as { type: string; payload?: unknown }).find((f) => f.type === type);
      await expect.poll(() => frame("subscribe"), { timeout: WAIT_MS }).toBeDefined();
      expect(sockets).toEqual([`ws://127.0.0.1:${app.port}/graphql`]);
      expect(frame("connection_init")?.payload).toEqual({ authorization: `Bearer ${staff}` });
      await waitForSubscribers(`${prefix}STOCK_CHANGED:${keyOf(product.id, "Product")}`, 1, WAIT_MS);

      const adjusted = await request(endpoint(), AdjustStockDocument, { productId: product.id, delta: target - product.stock }, staff);
      expect(adjusted.errors).toBeUndefined();
      expect(adjusted.data!.adjustStock.stock).toBe(target);
      await resultShows(page, `"stock": ${target}`, 10_000);
      await resultShows(page, product.name);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}explorer.png` });
    });
  });

  it("sends the pasted bearer token (and the log-in-as button fills it in)", async () => {
    const customer = await logIn(endpoint(), DEMO.customer);
    await inBrowser(async ({ page }) => {
      await openExplorer(page, `query Me { me { email } }`);
      await execute(page);
      await resultShows(page, `"me": null`);

      await setToken(page, customer);
      await execute(page);
      await resultShows(page, DEMO.customer.email);
      // Kept for the tab's session (sessionStorage, not localStorage): a reload still sends it.
      const stored = await page.evaluate(() => ({ session: Object.values(sessionStorage), local: Object.values(localStorage).join(" ") }));
      expect(stored.session).toContain(customer);
      expect(stored.local).not.toContain(customer);
      await openExplorer(page, `query Me { me { email } }`);
      expect(await page.locator("#explorer-token").inputValue()).toBe(customer);
      await execute(page);
      await resultShows(page, DEMO.customer.email);

      await setToken(page, "");
      await execute(page);
      await resultShows(page, `"me": null`);

      await page.getByRole("button", { name: /log in as STAFF/i }).click();
      await expect.poll(() => page.locator("#explorer-token").inputValue(), { timeout: WAIT_MS }).toMatch(/^ey/);
      await execute(page);
      await resultShows(page, DEMO.staff.email);
    });
  });

  it("leaves API GET requests alone, serves its assets cacheable and gzipped, and is off with EXPLORER=false", async () => {
    const api = await fetch(`${endpoint()}?query=${encodeURIComponent("{__typename}")}`, {
      headers: { accept: "application/json", "apollo-require-preflight": "true" },
    });
    expect(api.headers.get("content-type")).toMatch(/^application\/(graphql-response\+)?json/);
    expect(await api.json()).toEqual({ data: { __typename: "Query" } });

    const page = await fetch(endpoint(), { headers: { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" } });
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    const assets = [...html.matchAll(/(?:src|href)="(graphql\/explorer\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(5);
    for (const asset of assets) {
      const response = await fetch(new URL(asset, endpoint()), { headers: { "accept-encoding": "gzip" } });
      expect(response.status, asset).toBe(200);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(response.headers.get("content-encoding")).toBe("gzip");
      expect(response.headers.get("content-type")).toMatch(asset.endsWith(".css") ? /^text\/css/ : /^text\/javascript/);
      expect((await response.text()).length).toBeGreaterThan(100);
    }
    expect((await fetch(new URL("explorer/nope.js", `${endpoint()}/`))).status).toBe(404);

    const off = await fetch(endpoint(withoutExplorer), { headers: { accept: "text/html" } });
    expect(off.headers.get("content-type") ?? "").not.toMatch(/text\/html/);
    expect(await off.text()).not.toMatch(/graphiql/i);
    const session = await openBrowser();
    try {
      const response = await session.page.goto(endpoint(withoutExplorer));
      expect(response?.headers()["content-type"] ?? "").not.toMatch(/text\/html/);
      expect(await session.page.locator(".graphiql-container").count()).toBe(0);
      expect(session.offHost).toEqual([]);
    } finally {
      await session.context.close();
    }
  });
});

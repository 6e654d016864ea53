// CORS as a real browser enforces it: a shop page served from another origin (a second port on
// 127.0.0.1) calls the API with fetch(). Chromium sends the preflight and decides from our answer;
// the internet is cut off, as in the explorer test (here by host resolution, see onPage).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { MeEmailDocument, ProductCountDocument } from "../generated/graphql.ts";
import { DEMO, createTestDatabase, logIn, startTestServer, tempDir, textOf } from "../harness/index.ts";

/** The shop's page: `callApi` fetches the API the way a storefront does (bearer token, JSON body). */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Another shop front</title></head>
<body><pre id="result"></pre>
<script>
  window.callApi = async (api, { method = "POST", query, token } = {}) => {
    try {
      const res = method === "GET"
        ? await fetch(api + "?" + new URLSearchParams({ query }))
        : await fetch(api, {
            method: "POST",
            headers: { "content-type": "application/json", ...(token ? { authorization: "Bearer " + token } : {}) },
            body: JSON.stringify({ query }),
          });
      const result = { status: res.status, body: await res.json() };
      document.getElementById("result").textContent = JSON.stringify(result);
      return result;
    } catch (error) {
      // What the browser says when CORS refuses: the page learns nothing about the response.
      return { blocked: String(error) };
    }
  };
</script></body></html>`;

interface CallResult {
  status?: number;
  body?: { data?: Record<string, unknown>; errors?: unknown[] };
  blocked?: string;
}

let app: App;
let allowed: Server;
let refused: Server;
let browser: Browser;
let dispose: (() => Promise<void>) | undefined;

function servePage(): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(PAGE);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

const originOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

beforeAll(async () => {
  const db = await createTestDatabase();
  const dir = tempDir();
  const closers: (() => Promise<unknown>)[] = [];
  dispose = async () => {
    for (const close of closers.reverse()) await close();
    await db.drop();
    dir.remove();
  };
  allowed = await servePage();
  closers.push(() => new Promise((r) => allowed.close(r)));
  refused = await servePage();
  closers.push(() => new Promise((r) => refused.close(r)));
  app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, env: { CORS_ORIGINS: originOf(allowed) } });
  closers.push(() => app.stop());
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
      // No name resolves except 127.0.0.1 itself: the internet stays cut off without interception.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
  closers.push(() => browser.close());
});
afterAll(() => dispose?.());

const api = () => `http://127.0.0.1:${app.port}/graphql`;

/** Opens the page served by `from` in a fresh context (no request may leave 127.0.0.1) and runs `body`. */
async function onPage(from: Server, body: (page: Page, consoleErrors: string[]) => Promise<void>): Promise<void> {
  const context = await browser.newContext();
  const offHost: string[] = [];
  // Watched, not intercepted: with request interception on, Playwright answers CORS preflights
  // itself (allowing everything), and the browser would never ask our server.
  context.on("request", (request) => {
    if (new URL(request.url()).hostname !== "127.0.0.1") offHost.push(request.url());
  });
  try {
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(`page error: ${error.message}`));
    const response = await page.goto(`${originOf(from)}/shop.html`);
    expect(response?.status()).toBe(200);
    await body(page, consoleErrors);
    expect(offHost).toEqual([]);
  } finally {
    await context.close();
  }
}

const call = (page: Page, options: { method?: "GET" | "POST"; query: string; token?: string }) =>
  page.evaluate(([url, opts]) => (window as unknown as { callApi(u: string, o: unknown): Promise<CallResult> }).callApi(url, opts), [api(), options] as const);

/** Preflights the server has answered so far, from its own request counter. */
async function preflightsAnswered(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("cartwheel_http_requests_total{") && l.includes(`route="/graphql"`) && l.includes(`status="204"`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("CORS in a browser, from a page on a second origin", { timeout: 60_000 }, () => {
  it("an allowed origin reads the API: signed-in POST after a preflight, and a plain GET query", async () => {
    const token = await logIn(api(), DEMO.customer);
    const before = await preflightsAnswered();
    await onPage(allowed, async (page, consoleErrors) => {
      const me = await call(page, { query: textOf(MeEmailDocument), token });
      expect(me).toEqual({ status: 200, body: { data: { me: { email: DEMO.customer.email } } } });
      await page.locator("#result", { hasText: DEMO.customer.email }).waitFor({ timeout: 10_000 });
      // authorization and a JSON body are not "simple": Chromium asked first, and we said yes.
      expect(await preflightsAnswered()).toBeGreaterThan(before);

      const products = await call(page, { method: "GET", query: textOf(ProductCountDocument) });
      expect(products.status).toBe(200);
      expect(products.body?.data).toEqual({ products: { totalCount: expect.any(Number) } });
      expect(consoleErrors).toEqual([]);
    });
  });

  it("a refused origin is blocked by the browser, for the preflighted POST and the plain GET alike", async () => {
    const token = await logIn(api(), DEMO.customer);
    await onPage(refused, async (page, consoleErrors) => {
      const me = await call(page, { query: textOf(MeEmailDocument), token });
      expect(me.blocked).toMatch(/TypeError: Failed to fetch/);
      const products = await call(page, { method: "GET", query: textOf(ProductCountDocument) });
      expect(products.blocked).toMatch(/TypeError: Failed to fetch/);
      expect(await page.locator("#result").textContent()).toBe("");
      // Chromium names the reason; both calls were refused for CORS, not for anything else.
      const cors = consoleErrors.filter((e) => /blocked by CORS policy/.test(e) && e.includes(originOf(refused)));
      expect(cors.length, consoleErrors.join("\n")).toBeGreaterThanOrEqual(2);
    });
  });
});

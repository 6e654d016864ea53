import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import Negotiator from "negotiator";
import { sha256Hex } from "../lib/hash.ts";
import { BOOT_SCRIPT } from "./explorer/boot.ts";
import { EXPLORER_CSS, renderPage } from "./explorer/page.ts";

export interface ExplorerOptions {
  /** Accounts to mention on the page (the embedded default's demo shop); empty in production. */
  demoAccounts: readonly { email: string; password: string; role: string }[];
}

const PAGE_PATH = "/graphql";
const ASSET_PREFIX = "/graphql/explorer/";
const IMMUTABLE = "public, max-age=31536000, immutable";
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const gzipAsync = promisify(gzip);
const require = createRequire(import.meta.url);

interface Asset {
  contentType: string;
  read: () => Promise<string | Buffer>;
}

interface Encoded {
  identity: Buffer;
  gzip: Buffer;
  etag: string;
}

/**
 * GraphiQL bundled with the server (no CDN). `handle` answers GET /graphql from a browser
 * (Accept: text/html) and the explorer's static assets under /graphql/explorer/; it returns
 * false for anything else, API GET requests included.
 *
 * Throws at creation when graphiql, react, react-dom or graphql-ws is not installed, so a broken
 * install fails the start rather than the first visitor. An asset that cannot be read later is
 * answered 500, and read again on the next request.
 */
export function createExplorer(options: ExplorerOptions): { handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean } {
  const assets = new Map<string, Asset>();
  // Names carry the package version or a content hash: a new version is a new URL, so the files can be cached forever.
  const fromPackage = (pkg: string, file: string, stem: string, contentType: string) => {
    const manifest = require.resolve(`${pkg}/package.json`);
    const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
    const name = `${stem}-${version}${file.slice(file.lastIndexOf("."))}`;
    assets.set(name, { contentType, read: async () => withoutSourceMapUrl(await readFile(join(dirname(manifest), file), "utf8")) });
    return `graphql/explorer/${name}`;
  };
  const fromText = (stem: string, extension: string, text: string, contentType: string) => {
    const name = `${stem}-${sha256Hex(text).slice(0, 12)}${extension}`;
    assets.set(name, { contentType, read: async () => text });
    return `graphql/explorer/${name}`;
  };
  // Relative URLs: they resolve against the page at /graphql, also behind a proxy's path prefix.
  const html = renderPage(
    {
      styles: [fromPackage("graphiql", "graphiql.min.css", "graphiql", CSS), fromText("explorer", ".css", EXPLORER_CSS, CSS)],
      scripts: [
        fromPackage("react", "umd/react.production.min.js", "react", JS),
        fromPackage("react-dom", "umd/react-dom.production.min.js", "react-dom", JS),
        fromPackage("graphiql", "graphiql.min.js", "graphiql", JS),
        fromPackage("graphql-ws", "umd/graphql-ws.min.js", "graphql-ws", JS),
        fromText("boot", ".js", BOOT_SCRIPT, JS),
      ],
    },
    options.demoAccounts,
  );

  const encoded = new Map<string, Promise<Encoded>>();
  const load = (name: string, asset: Asset): Promise<Encoded> => {
    let loading = encoded.get(name);
    if (!loading) {
      loading = (async () => {
        const identity = Buffer.from(await asset.read());
        // Compressed once on the thread pool: graphiql is 3.5 MB, too much to gzip on the event loop per request.
        const compressed = await gzipAsync(identity, { level: 9 });
        return { identity, gzip: compressed, etag: `"${createHash("sha256").update(identity).digest("base64url").slice(0, 22)}"` };
      })();
      encoded.set(name, loading);
      loading.catch(() => encoded.delete(name));
    }
    return loading;
  };

  const serveAsset = (req: IncomingMessage, res: ServerResponse, name: string) => {
    const asset = assets.get(name);
    if (!asset) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end("not found");
      return;
    }
    load(name, asset).then(
      (file) => {
        const headers: Record<string, string | number> = {
          "content-type": asset.contentType,
          "cache-control": IMMUTABLE,
          etag: file.etag,
          vary: "accept-encoding",
          "x-content-type-options": "nosniff",
        };
        if (req.headers["if-none-match"] === file.etag) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
        const body = acceptsGzip(req.headers["accept-encoding"]) ? file.gzip : file.identity;
        if (body === file.gzip) headers["content-encoding"] = "gzip";
        res.writeHead(200, { ...headers, "content-length": body.length });
        res.end(body);
      },
      () => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end("explorer asset unavailable");
      },
    );
  };

  return {
    handle(req, res, url) {
      if (req.method !== "GET") return false;
      if (url.pathname === PAGE_PATH) {
        // API clients send GraphQL GET requests here too: the page only for a client that prefers
        // HTML, and never for a persisted-query URL (a link to one must answer its JSON).
        if (!prefersHtml(req) || url.searchParams.has("extensions") || url.searchParams.has("documentId")) return false;
        res.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": contentSecurityPolicy(req.headers.host),
          "cache-control": "no-cache",
          vary: "accept",
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
        });
        res.end(html);
        return true;
      }
      if (!url.pathname.startsWith(ASSET_PREFIX)) return false;
      serveAsset(req, res, url.pathname.slice(ASSET_PREFIX.length));
      return true;
    },
  };
}

/**
 * Scripts only from this server, no inline script or eval; inline styles are allowed (see below).
 * GraphiQL's fonts are data: URLs.
 * connect-src names ws:/wss: of the page's host because 'self' does not cover WebSocket URLs in
 * every browser; a Host header that is not a plain host[:port] gets 'self' only.
 */
function contentSecurityPolicy(host: string | undefined): string {
  const plainHost = host !== undefined && /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i.test(host);
  return [
    "default-src 'none'",
    "script-src 'self'",
    // GraphiQL's dialogs (react-remove-scroll) add <style> elements at run time, without a way to pass a nonce.
    "style-src 'self' 'unsafe-inline'",
    `connect-src 'self'${plainHost ? ` ws://${host} wss://${host}` : ""}`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The packages' source maps are not served: drop the reference so devtools do not ask for them (404). */
function withoutSourceMapUrl(text: string): string {
  return text.replace(/\n(?:\/\/# sourceMappingURL=\S+|\/\*# sourceMappingURL=\S+ ?\*\/)\s*$/, "\n");
}

/** Content negotiation as Apollo does it for its landing page. */
function prefersHtml(req: IncomingMessage): boolean {
  return new Negotiator(req).mediaType(["application/json", "application/graphql-response+json", "text/html"]) === "text/html";
}

function acceptsGzip(header: string | undefined): boolean {
  return (header ?? "").split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";").map((p) => p.trim());
    const q = params.find((p) => p.startsWith("q="));
    return coding === "gzip" && (q === undefined || Number(q.slice(2)) > 0);
  });
}

import type { IncomingMessage, ServerResponse } from "node:http";
import cors from "cors";

/** The paths browsers on other origins may call; every other path gets no CORS headers. */
export const CORS_PATHS: readonly string[] = ["/graphql", "/graphql/stream"];

/**
 * Request headers a cross-origin page may send (everything our clients and partners use;
 * `last-event-id` for fetch-based SSE clients that resume /graphql/stream themselves).
 */
const ALLOWED_HEADERS = ["authorization", "content-type", "x-partner-key", "apollo-require-preflight", "x-apollo-operation-name", "x-request-id", "last-event-id"];

/** How long a browser may reuse a preflight answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * `"*"`: any origin, never with credentials (we authenticate with bearer tokens, not cookies).
 * A list: exactly these origins (`https://shop.example.com`); an empty list allows none, so only
 * same-origin pages (which need no CORS) can call the API.
 */
export type CorsOrigins = "*" | readonly string[];

/**
 * CORS for CORS_PATHS, through the `cors` package. Returns a step that sets the CORS headers on
 * the response and resolves true when it answered the request itself (a preflight `OPTIONS`,
 * 204), false when the route should go on. A refused origin gets no `Access-Control-Allow-Origin`,
 * which is what makes the browser block it; the server still answers non-browser clients.
 */
export function createCors(origins: CorsOrigins): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  const middleware = cors({
    // A list makes cors reflect the matching origin and add `Vary: Origin`, so caches keep the
    // answers for different origins apart; "*" is the same for everyone and needs no Vary.
    origin: origins === "*" ? "*" : [...origins],
    credentials: false,
    methods: ["GET", "POST", "OPTIONS"],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: ["x-request-id"],
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  });
  return (req, res, url) => {
    if (!CORS_PATHS.includes(url.pathname)) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      middleware(req, res, (error?: unknown) => (error ? reject(error) : resolve(false)));
      // cors ends a preflight itself and never calls next.
      if (res.writableEnded) resolve(true);
    });
  };
}

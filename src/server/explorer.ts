import type { IncomingMessage, ServerResponse } from "node:http";

export interface ExplorerOptions {
  /** Accounts to mention on the page (the embedded default's demo shop); empty in production. */
  demoAccounts: readonly { email: string; password: string; role: string }[];
}

/**
 * GraphiQL bundled with the server (no CDN). `handle` answers GET /graphql from a browser
 * (Accept: text/html) and the explorer's static assets; it returns false for anything else.
 * PLACEHOLDER: replaced by the explorer implementation.
 */
export function createExplorer(_options: ExplorerOptions): { handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean } {
  return { handle: () => false };
}

/**
 * The explorer's HTML and its own stylesheet. Strings in a .ts module rather than .html/.css
 * files: `tsc` copies only .ts into dist/, so such files would be missing from the production build.
 */

export interface PageAssets {
  /** Stylesheet URLs, relative to the page (GET /graphql). */
  styles: string[];
  /** Script URLs in load order, relative to the page. */
  scripts: string[];
}

export interface DemoAccount {
  email: string;
  password: string;
  role: string;
}

/** The example a visitor can open in the editor; the same fields the schema's AuthPayload has. */
export function logInExample(account: DemoAccount): string {
  return [
    "mutation LogIn {",
    `  logIn(email: ${JSON.stringify(account.email)}, password: ${JSON.stringify(account.password)}) {`,
    "    accessToken",
    "    refreshToken",
    "    user { id email role }",
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The whole page; no inline script or style, so the CSP can forbid both. */
export function renderPage(assets: PageAssets, demoAccounts: readonly DemoAccount[]): string {
  const demo = demoAccounts.length === 0 ? "" : `
<section id="explorer-demo" aria-label="Demo accounts">
  <span>Demo accounts (the seeded demo shop):</span>
  ${demoAccounts
    .map(
      (a) => `<span class="explorer-account"><button type="button" data-login-email="${escape(a.email)}" data-login-password="${escape(a.password)}">Log in as ${escape(a.role)}</button>
    <code>${escape(a.email)}</code> / <code>${escape(a.password)}</code></span>`,
    )
    .join("\n  ")}
  <a id="explorer-login-example" href="graphql?query=${escape(encodeURIComponent(logInExample(demoAccounts[0]!)))}">Open a logIn mutation</a>
  <span>then paste its <code>accessToken</code> above.</span>
</section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Cartwheel GraphQL explorer</title>
<link rel="icon" href="data:,">
${assets.styles.map((href) => `<link rel="stylesheet" href="${escape(href)}">`).join("\n")}
${assets.scripts.map((src) => `<script defer src="${escape(src)}"></script>`).join("\n")}
</head>
<body>
<header id="explorer-bar">
  <strong>Cartwheel GraphQL</strong>
  <label for="explorer-token">Bearer token</label>
  <input id="explorer-token" type="text" autocomplete="off" spellcheck="false"
    placeholder="paste an accessToken: sent as Authorization: Bearer &lt;token&gt; (HTTP and WebSocket)">
  <button type="button" id="explorer-token-clear">Clear</button>
  <span id="explorer-token-status" role="status" aria-live="polite"></span>
</header>${demo}
<main id="graphiql"><p class="explorer-loading">Loading GraphiQL&hellip;</p><noscript>The explorer needs JavaScript.</noscript></main>
</body>
</html>
`;
}

export const EXPLORER_CSS = `
:root {
  color-scheme: light dark;
  --bar-bg: hsl(219, 28%, 97%);
  --bar-fg: hsl(219, 28%, 32%);
  --bar-line: hsl(219, 28%, 86%);
  --bar-failed: hsl(353, 75%, 45%);
}
@media (prefers-color-scheme: dark) {
  body:not(.graphiql-light) { --bar-bg: hsl(219, 29%, 14%); --bar-fg: hsl(219, 29%, 78%); --bar-line: hsl(219, 29%, 26%); --bar-failed: hsl(353, 90%, 70%); }
}
body.graphiql-dark { --bar-bg: hsl(219, 29%, 14%); --bar-fg: hsl(219, 29%, 78%); --bar-line: hsl(219, 29%, 26%); --bar-failed: hsl(353, 90%, 70%); }
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font: 14px/1.4 system-ui, sans-serif; background: var(--bar-bg); color: var(--bar-fg); }
#explorer-bar, #explorer-demo {
  flex: none; display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem 0.8rem;
  padding: 0.4rem 1rem; border-bottom: 1px solid var(--bar-line);
}
#explorer-token { flex: 1 1 24rem; min-width: 12rem; font: 13px ui-monospace, monospace; padding: 0.3rem 0.5rem; }
#explorer-token-status { flex: 1 0 100%; font-size: 12px; }
#explorer-token-status.explorer-failed { color: var(--bar-failed); }
#explorer-demo { font-size: 13px; }
.explorer-account { white-space: nowrap; }
#explorer-demo a { color: inherit; }
#graphiql { flex: 1 1 auto; min-height: 0; }
.explorer-loading { padding: 1rem; }
`;

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

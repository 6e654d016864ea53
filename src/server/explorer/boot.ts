/**
 * The explorer page's boot script, served as a file (so the page's CSP needs no inline script).
 * It is browser JavaScript kept in a string: `tsc` copies only .ts into dist/, so a .js or .html
 * file here would be missing from the production build. No backticks or dollar-brace inside.
 *
 * Globals from the bundled UMD scripts: React, ReactDOM, GraphiQL, graphqlWs. The token lives in
 * sessionStorage (gone with the tab) and is read on every request, so the fetcher never changes
 * and GraphiQL does not re-run introspection; the WebSocket client is replaced when it changes
 * because the token travels once, in connection_init.
 */
export const BOOT_SCRIPT = String.raw`(function () {
  "use strict";
  var TOKEN_KEY = "cartwheel.explorer.token";
  var DEFAULT_QUERY = [
    "# Cartwheel GraphQL explorer.",
    "# Ctrl-Enter runs an operation; docs are in the sidebar.",
    "# Operations that need an account send the token above.",
    "",
    "query Products {",
    "  products(first: 5) {",
    "    edges {",
    "      node {",
    "        id",
    "        name",
    "        price { amountCents currency }",
    "        stock",
    "        inStock",
    "      }",
    "    }",
    "  }",
    "}",
    ""
  ].join("\n");
  var LOG_IN = "mutation LogIn($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken } }";

  // The page is served at the GraphQL endpoint itself, so its own URL is the endpoint (also behind a path prefix).
  var httpUrl = location.origin + location.pathname;
  var wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + location.pathname;

  var input = document.getElementById("explorer-token");
  var statusLine = document.getElementById("explorer-token-status");
  var saved = null;
  try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (e) { /* storage disabled: the field still works for this page */ }
  if (saved) input.value = saved;
  var token = "";
  var socket = null;

  function showStatus(text, failed) {
    statusLine.textContent = text;
    statusLine.classList.toggle("explorer-failed", Boolean(failed));
  }

  function describe(value) {
    if (!value) return "Anonymous: no Authorization header is sent.";
    try {
      var claims = JSON.parse(atob(value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      var expires = new Date(claims.exp * 1000);
      var expired = expires.getTime() < Date.now();
      return "Token for a " + (claims.role || "user") + (expired ? ", EXPIRED at " : ", valid until ") + expires.toLocaleTimeString() + ".";
    } catch (e) {
      return "Token set (not a readable JWT).";
    }
  }

  function applyToken() {
    var value = input.value.trim().replace(/^bearer\s+/i, "");
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled */ }
    if (value !== token) {
      token = value;
      // The socket authenticated with the old token: running subscriptions end, the next one reconnects.
      if (socket) socket.dispose();
      socket = null;
    }
    showStatus(describe(token), false);
  }

  function currentSocket() {
    if (!socket) {
      var params = token ? { authorization: "Bearer " + token } : {};
      socket = graphqlWs.createClient({ url: wsUrl, lazy: true, connectionParams: function () { return params; } });
    }
    return socket;
  }

  input.addEventListener("input", applyToken);
  document.getElementById("explorer-token-clear").addEventListener("click", function () {
    input.value = "";
    applyToken();
    input.focus();
  });
  applyToken();

  Array.prototype.forEach.call(document.querySelectorAll("[data-login-email]"), function (button) {
    button.addEventListener("click", function () {
      var email = button.getAttribute("data-login-email");
      showStatus("Logging in as " + email + "...", false);
      window.fetch(httpUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: LOG_IN, variables: { email: email, password: button.getAttribute("data-login-password") } })
      }).then(function (response) { return response.json(); }).then(function (result) {
        var issued = result.data && result.data.logIn && result.data.logIn.accessToken;
        if (!issued) throw new Error(result.errors && result.errors[0] ? result.errors[0].message : "no token in the answer");
        input.value = issued;
        applyToken();
      }).catch(function (error) {
        showStatus("Log-in as " + email + " failed: " + error.message, true);
      });
    });
  });

  var fetcher = GraphiQL.createFetcher({
    url: httpUrl,
    // The server answers plain JSON; the multipart path would only add a parser to go wrong.
    enableIncrementalDelivery: false,
    // Looked up per subscription, so a new token takes effect without a new fetcher.
    wsClient: { subscribe: function (payload, sink) { return currentSocket().subscribe(payload, sink); } },
    fetch: function (url, init) {
      var headers = new Headers(init && init.headers);
      // An Authorization typed into GraphiQL's headers editor wins over the token field.
      if (token && !headers.has("authorization")) headers.set("authorization", "Bearer " + token);
      return window.fetch(url, Object.assign({}, init, { headers: headers }));
    }
  });

  function storedActiveTab() {
    try {
      var state = JSON.parse(localStorage.getItem("graphiql:tabState"));
      var tab = state && state.tabs[state.activeTabIndex];
      return tab && typeof tab.query === "string" ? tab : null;
    } catch (e) {
      return null;
    }
  }

  var props = { fetcher: fetcher, defaultQuery: DEFAULT_QUERY, shouldPersistHeaders: false };
  var params = new URLSearchParams(location.search);
  var example = document.getElementById("explorer-login-example");
  var stored = storedActiveTab();
  if (params.has("query")) {
    props.query = params.get("query");
    if (params.has("variables")) props.variables = params.get("variables");
  } else if (stored) {
    // Without a query prop GraphiQL 3 matches no stored tab and opens a new one on every load:
    // naming the stored active tab makes it select that tab instead.
    props.query = stored.query;
    if (stored.variables) props.variables = stored.variables;
  } else if (example) {
    // GraphiQL ignores query when defaultTabs is set, hence only without ?query=.
    props.defaultTabs = [{ query: DEFAULT_QUERY }, { query: new URL(example.href).searchParams.get("query") }];
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
`;

// Popular GraphQL clients, each with its out-of-the-box options, against the real server: what a
// frontend team gets on day one. urql sends queries as GET by default, which Apollo's CSRF
// prevention used to answer with 400.
import { ApolloClient, HttpLink, InMemoryCache, gql as apolloGql } from "@apollo/client";
import { Client as UrqlClient, cacheExchange, fetchExchange, gql as urqlGql } from "@urql/core";
import { GraphQLClient, gql as requestGql, request as graphqlRequest } from "graphql-request";
import { describe, expect, it } from "vitest";
import { AdjustStockDocument, FirstProductStockDocument, ProductStockDocument, SignUpDocument } from "../generated/graphql.ts";
import { DEMO, gql, logIn, ok, request, textOf, useTestServer, type GqlError } from "../harness/index.ts";

const server = useTestServer();

const PRODUCTS = `query Products($first: Int) { products(first: $first) { totalCount edges { node { id name } } } }`;
const LOG_IN = `mutation LogIn($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken user { email } } }`;
const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { user { email } } }`;

/** The first products as the server itself answers them, to compare every client with (the same text the clients send). */
async function expectedNames(first: number): Promise<string[]> {
  return (await gql<{ products: { edges: { node: { name: string } }[] } }>(server.app.url, PRODUCTS, { first })).data!.products.edges.map((e) => e.node.name);
}

/** Wraps the global fetch to see which method a client chose; the request itself is untouched. */
function recordingFetch(methods: string[]): typeof fetch {
  return (input, init) => {
    methods.push(init?.method ?? (input instanceof Request ? input.method : "GET"));
    return fetch(input, init);
  };
}

const email = () => `client-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.test`;

describe("urql (@urql/core 6) with its default options", () => {
  it("runs queries over GET without any extra header, and mutations over POST", async () => {
    const methods: string[] = [];
    const client = new UrqlClient({ url: server.app.url, exchanges: [cacheExchange, fetchExchange], fetch: recordingFetch(methods) });
    const result = await client.query(urqlGql(PRODUCTS), { first: 3 }).toPromise();
    expect(result.error).toBeUndefined();
    expect(result.data.products.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(await expectedNames(3));
    // urql 6's default is preferGetMethod: "within-url-limit".
    expect(methods).toEqual(["GET"]);

    const loggedIn = await client.mutation(urqlGql(LOG_IN), DEMO.customer).toPromise();
    expect(loggedIn.error).toBeUndefined();
    expect(loggedIn.data.logIn.user.email).toBe(DEMO.customer.email);
    expect(methods).toEqual(["GET", "POST"]);

    // A signed-in GET query: the bearer token is the credential, no cookie is involved.
    const authed = new UrqlClient({
      url: server.app.url,
      exchanges: [fetchExchange],
      fetch: recordingFetch(methods),
      fetchOptions: () => ({ headers: { authorization: `Bearer ${loggedIn.data.logIn.accessToken}` } }),
    });
    const me = await authed.query(urqlGql(`query Me { me { email } }`), {}).toPromise();
    expect(me.error).toBeUndefined();
    expect(me.data.me.email).toBe(DEMO.customer.email);
    expect(methods.at(-1)).toBe("GET");
  });
});

describe("Apollo Client 4 (HttpLink + InMemoryCache)", () => {
  it("runs a query and a mutation", async () => {
    const methods: string[] = [];
    const client = new ApolloClient({ link: new HttpLink({ uri: server.app.url, fetch: recordingFetch(methods) }), cache: new InMemoryCache() });
    const result = await client.query<{ products: { edges: { node: { name: string } }[] } }>({ query: apolloGql(PRODUCTS), variables: { first: 4 } });
    expect(result.error).toBeUndefined();
    expect(result.data!.products.edges.map((e) => e.node.name)).toEqual(await expectedNames(4));

    const address = email();
    const signedUp = await client.mutate<{ signUp: { user: { email: string } } }>({ mutation: apolloGql(SIGN_UP), variables: { input: { email: address, password: "correct horse battery", name: "Apollo" } } });
    expect(signedUp.error).toBeUndefined();
    expect(signedUp.data!.signUp.user.email).toBe(address);
    expect(methods).toEqual(["POST", "POST"]);
  });
});

describe("graphql-request 7", () => {
  it("runs a query and a mutation over POST, and a query over GET", async () => {
    const data = await graphqlRequest<{ products: { edges: { node: { name: string } }[] } }>(server.app.url, requestGql`${PRODUCTS}`, { first: 2 });
    expect(data.products.edges.map((e) => e.node.name)).toEqual(await expectedNames(2));

    const loggedIn = await graphqlRequest<{ logIn: { user: { email: string } } }>(server.app.url, requestGql`${LOG_IN}`, DEMO.staff);
    expect(loggedIn.logIn.user.email).toBe(DEMO.staff.email);

    const methods: string[] = [];
    const viaGet = new GraphQLClient(server.app.url, { method: "GET", fetch: recordingFetch(methods) });
    const got = await viaGet.request<{ products: { edges: { node: { name: string } }[] } }>(PRODUCTS, { first: 5 });
    expect(got.products.edges.map((e) => e.node.name)).toEqual(await expectedNames(5));
    // graphql-request itself sends mutations over POST, even with method: "GET".
    const address = email();
    const signedUp = await viaGet.request<{ signUp: { user: { email: string } } }>(SIGN_UP, { input: { email: address, password: "correct horse battery", name: "Request" } });
    expect(signedUp.signUp.user.email).toBe(address);
    expect(methods).toEqual(["GET", "POST"]);
  });
});

describe("what stays refused", () => {
  it("a mutation over GET gets 405 and does not run, anonymous (what a cross-site page could send) or signed in", async () => {
    const input = { email: email(), password: "correct horse battery", name: "Over GET" };
    const signUp = new URLSearchParams({ query: SIGN_UP, variables: JSON.stringify({ input }) });
    const anonymous = await fetch(`${server.app.url}?${signUp}`);
    expect(anonymous.status).toBe(405);
    expect((await anonymous.json()).errors[0].extensions.code).toBe("BAD_USER_INPUT");
    // Nothing ran: the same sign-up over POST is the first one for this address.
    const posted = await request(server.app.url, SignUpDocument, { input });
    expect(posted.errors).toBeUndefined();

    const staff = await logIn(server.app.url, DEMO.staff);
    const product = ok(await request(server.app.url, FirstProductStockDocument)).products.edges[0]!.node;
    const adjust = new URLSearchParams({ query: textOf(AdjustStockDocument), variables: JSON.stringify({ productId: product.id, delta: 5 }) });
    const res = await fetch(`${server.app.url}?${adjust}`, { headers: { authorization: `Bearer ${staff}` } });
    expect(res.status).toBe(405);
    expect(((await res.json()) as { errors: GqlError[] }).errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
    const after = await request(server.app.url, ProductStockDocument, { id: product.id });
    expect(after.data!.product!.stock).toBe(product.stock);
  });

  it("a POST a form could send (text/plain, no preflight header) is still refused by Apollo's CSRF prevention", async () => {
    const address = email();
    const body = JSON.stringify({ query: SIGN_UP, variables: { input: { email: address, password: "correct horse battery", name: "Form" } } });
    const res = await fetch(server.app.url, { method: "POST", headers: { "content-type": "text/plain" }, body });
    expect(res.status).toBe(400);
    const answer = await res.json();
    expect(answer.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    expect(answer.errors[0].message).toMatch(/CSRF/);
    const posted = await request(server.app.url, SignUpDocument, { input: { email: address, password: "correct horse battery", name: "Form" } });
    expect(posted.errors).toBeUndefined();
  });
});

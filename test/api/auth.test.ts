import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, decodeJwt, decodeProtectedHeader, importPKCS8 } from "jose";
import { describe, expect, it } from "vitest";
import { GENERATED_KEY_FILE } from "../../src/auth/keys.ts";
import { ProductsCostPriceDocument } from "../generated/graphql.ts";
import { DEMO, gql, logIn, request, useTestServer } from "../harness/index.ts";

const server = useTestServer();

const CREATE = `mutation($input: ProductInput!) { createProduct(input: $input) { id slug costPrice { amountCents } } }`;

async function categoryId() {
  return (await gql(server.app.url, `{ categories { id } }`)).data.categories[0].id as string;
}

describe("accounts", () => {
  it("signUp then logIn; me is the new user", async () => {
    const email = `new-${Date.now()}@example.com`;
    const signUp = await gql(server.app.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken refreshToken accessTokenExpiresAt user { id email role name } } }`, {
      i: { email, password: "correct horse battery", name: "New Person" },
    });
    expect(signUp.errors).toBeUndefined();
    expect(signUp.data.signUp.user).toMatchObject({ email, role: "CUSTOMER", name: "New Person" });
    expect(new Date(signUp.data.signUp.accessTokenExpiresAt).getTime()).toBeGreaterThan(Date.now());

    const again = await gql(server.app.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
      i: { email: email.toUpperCase(), password: "another password", name: "Dup" },
    });
    expect(again.errors?.[0]?.extensions.code).toBe("CONFLICT");

    const wrong = await gql(server.app.url, `mutation { logIn(email: "${email}", password: "nope nope nope") { accessToken } }`);
    expect(wrong.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");

    const token = await logIn(server.app.url, { email, password: "correct horse battery" });
    const me = await gql(server.app.url, `{ me { id email role } }`, {}, token);
    expect(me.data.me).toEqual({ id: signUp.data.signUp.user.id, email, role: "CUSTOMER" });
    expect((await gql(server.app.url, `{ me { id } }`)).data.me).toBeNull();
  });

  it("rejects weak input with BAD_USER_INPUT and writes nothing", async () => {
    const res = await gql(server.app.url, `mutation { signUp(input: { email: "not-an-email", password: "short", name: "" }) { accessToken } }`);
    expect(res.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
  });

  it("refreshSession rotates; reusing the old token revokes the session", async () => {
    const login = await gql(server.app.url, `mutation { logIn(email: "${DEMO.customer.email}", password: "${DEMO.customer.password}") { accessToken refreshToken } }`);
    const first = login.data.logIn;
    const refreshed = await gql(server.app.url, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }`, { t: first.refreshToken });
    expect(refreshed.errors).toBeUndefined();
    const second = refreshed.data.refreshSession;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const reuse = await gql(server.app.url, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: first.refreshToken });
    expect(reuse.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    // The whole session is gone: its newest refresh token and its access tokens stop working.
    const after = await gql(server.app.url, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: second.refreshToken });
    expect(after.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    expect((await gql(server.app.url, `{ me { id } }`, {}, second.accessToken)).status).toBe(401);
  });

  it("logOut revokes the session's access tokens", async () => {
    const login = (await gql(server.app.url, `mutation { logIn(email: "${DEMO.customer.email}", password: "${DEMO.customer.password}") { accessToken refreshToken } }`)).data.logIn;
    expect((await gql(server.app.url, `{ me { id } }`, {}, login.accessToken)).data.me).not.toBeNull();
    expect((await gql(server.app.url, `mutation($t: String!) { logOut(refreshToken: $t) }`, { t: login.refreshToken })).data.logOut).toBe(true);
    const res = await gql(server.app.url, `{ me { id } }`, {}, login.accessToken);
    expect(res.status).toBe(401);
    expect(res.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
  });
});

describe("@auth on mutations and fields", () => {
  it("STAFF can createProduct, CUSTOMER is FORBIDDEN, anonymous is UNAUTHENTICATED", async () => {
    const input = { slug: `test-${Date.now()}`, name: "Test Product", description: "", priceCents: 1234, costCents: 600, categoryId: await categoryId() };
    const staff = await logIn(server.app.url, DEMO.staff);
    const customer = await logIn(server.app.url, DEMO.customer);

    const anonymous = await gql(server.app.url, CREATE, { input });
    expect(anonymous.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    const forbidden = await gql(server.app.url, CREATE, { input }, customer);
    expect(forbidden.errors?.[0]?.extensions.code).toBe("FORBIDDEN");
    expect((await gql(server.app.url, `query($s: String) { product(slug: $s) { id } }`, { s: input.slug }, staff)).data.product).toBeNull();

    const created = await gql(server.app.url, CREATE, { input }, staff);
    expect(created.errors).toBeUndefined();
    expect(created.data.createProduct).toMatchObject({ slug: input.slug, costPrice: { amountCents: 600 } });
    const duplicate = await gql(server.app.url, CREATE, { input }, staff);
    expect(duplicate.errors?.[0]?.extensions.code).toBe("CONFLICT");
    const invalid = await gql(server.app.url, CREATE, { input: { ...input, slug: "Bad Slug", priceCents: -1 } }, staff);
    expect(invalid.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
  });

  it("costPrice: null with FORBIDDEN for customers (UNAUTHENTICATED anonymous), present for staff", async () => {
    const q = (token?: string) => request(server.app.url, ProductsCostPriceDocument, {}, token);
    const customer = await q(await logIn(server.app.url, DEMO.customer));
    expect(customer.data?.products.edges.map((e) => e.node.costPrice)).toEqual([null, null]);
    expect(customer.errors?.map((e) => [e.extensions.code, e.path?.at(-1)])).toEqual([
      ["FORBIDDEN", "costPrice"],
      ["FORBIDDEN", "costPrice"],
    ]);
    const anonymous = await q();
    expect(anonymous.errors?.every((e) => e.extensions.code === "UNAUTHENTICATED")).toBe(true);
    const staff = await q(await logIn(server.app.url, DEMO.staff));
    expect(staff.errors).toBeUndefined();
    expect(staff.data?.products.edges.every((e) => e.node.costPrice!.amountCents > 0)).toBe(true);
  });

  it("email and role of another user are not readable; own are", async () => {
    const token = await logIn(server.app.url, DEMO.customer);
    const me = await gql(server.app.url, `{ me { id email role } }`, {}, token);
    expect(me.errors).toBeUndefined();
    const staffToken = await logIn(server.app.url, DEMO.staff);
    const staffMe = (await gql(server.app.url, `{ me { id } }`, {}, staffToken)).data.me;
    const other = await gql(server.app.url, `query($id: ID!) { node(id: $id) { id ... on User { email } } }`, { id: staffMe.id }, token);
    expect(other.data.node).toBeNull();

    // @auth(ownerOrRole): STAFF may read a customer's role (ownerOrRole: STAFF) but not the email (ADMIN).
    // email is non-null in the contract, so a refusal nulls the enclosing node as well.
    const customerQuery = `query($id: ID!) { node(id: $id) { ... on User { role email } } }`;
    const roleByStaff = await gql(server.app.url, `query($id: ID!) { node(id: $id) { ... on User { role } } }`, { id: me.data.me.id }, staffToken);
    expect(roleByStaff.errors).toBeUndefined();
    expect(roleByStaff.data.node).toEqual({ role: "CUSTOMER" });
    const emailByStaff = await gql(server.app.url, customerQuery, { id: me.data.me.id }, staffToken);
    expect(emailByStaff.data.node).toBeNull();
    expect(emailByStaff.errors?.map((e) => [e.extensions.code, e.path?.at(-1)])).toEqual([["FORBIDDEN", "email"]]);
    const byAdmin = await gql(server.app.url, customerQuery, { id: me.data.me.id }, await logIn(server.app.url, DEMO.admin));
    expect(byAdmin.errors).toBeUndefined();
    expect(byAdmin.data.node).toEqual({ role: "CUSTOMER", email: DEMO.customer.email });
  });
});

describe("bad tokens are rejected, never treated as anonymous", () => {
  async function expectRejected(token: string) {
    const res = await gql(server.app.url, `{ products(first: 1) { totalCount } }`, {}, token);
    expect(res.status).toBe(401);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
  }

  it("tampered payload", async () => {
    const token = await logIn(server.app.url, DEMO.customer);
    const [h, p, s] = token.split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString());
    payload.role = "ADMIN";
    await expectRejected(`${h}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${s}`);
  });

  it("alg: none", async () => {
    const token = await logIn(server.app.url, DEMO.customer);
    const claims = decodeJwt(token);
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url");
    await expectRejected(`${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`);
  });

  it("expired, even when correctly signed", async () => {
    const token = await logIn(server.app.url, DEMO.customer);
    const { kid, alg } = decodeProtectedHeader(token);
    const key = await importPKCS8(readFileSync(join(server.dataDir, GENERATED_KEY_FILE), "utf8"), alg!);
    const claims = decodeJwt(token);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 3600, exp: now - 60 })
      .setProtectedHeader({ alg: alg!, kid: kid!, typ: "at+jwt" })
      .sign(key);
    await expectRejected(expired);
    // The same claims with a live expiry pass: the rejection above is about expiry alone.
    const live = await new SignJWT({ ...claims, iat: now, exp: now + 60 }).setProtectedHeader({ alg: alg!, kid: kid!, typ: "at+jwt" }).sign(key);
    expect((await gql(server.app.url, `{ me { email } }`, {}, live)).data.me.email).toBe(DEMO.customer.email);
  });

  it("garbage and malformed Authorization headers", async () => {
    await expectRejected("not.a.jwt");
    const res = await fetch(server.app.url, { method: "POST", headers: { "content-type": "application/json", authorization: "Basic abc" }, body: JSON.stringify({ query: "{ me { id } }" }) });
    expect(res.status).toBe(401);
  });
});

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, decodeJwt, decodeProtectedHeader, importPKCS8 } from "jose";
import { describe, expect, it } from "vitest";
import { GENERATED_KEY_FILE } from "../../src/auth/keys.ts";
import {
  CreateProductCostDocument,
  LogInDocument,
  LogInSessionDocument,
  LogOutDocument,
  MeEmailDocument,
  MeIdDocument,
  MeIdEmailRoleDocument,
  NodeUserEmailDocument,
  NodeUserRoleDocument,
  NodeUserRoleEmailDocument,
  ProductCountDocument,
  ProductIdBySlugDocument,
  ProductsCostPriceDocument,
  RefreshSessionDocument,
  RefreshSessionPairDocument,
  SignUpDocument,
  SignUpFullDocument,
  type ProductInput,
} from "../generated/graphql.ts";
import { categoryIds } from "../harness/fixtures.ts";
import { DEMO, codeOf, logIn, ok, request, textOf, useTestServer } from "../harness/index.ts";

const server = useTestServer();

const create = (input: ProductInput, token?: string) => request(server.app.url, CreateProductCostDocument, { input }, token);

async function categoryId() {
  return (await categoryIds(server.app.url))[0]!;
}

describe("accounts", () => {
  it("signUp then logIn; me is the new user", async () => {
    const email = `new-${Date.now()}@example.com`;
    const { signUp } = ok(await request(server.app.url, SignUpFullDocument, { input: { email, password: "correct horse battery", name: "New Person" } }));
    expect(signUp.user).toMatchObject({ email, role: "CUSTOMER", name: "New Person" });
    expect(new Date(signUp.accessTokenExpiresAt).getTime()).toBeGreaterThan(Date.now());

    const again = await request(server.app.url, SignUpDocument, { input: { email: email.toUpperCase(), password: "another password", name: "Dup" } });
    expect(codeOf(again)).toBe("CONFLICT");

    const wrong = await request(server.app.url, LogInDocument, { email, password: "nope nope nope" });
    expect(codeOf(wrong)).toBe("UNAUTHENTICATED");

    const token = await logIn(server.app.url, { email, password: "correct horse battery" });
    const me = await request(server.app.url, MeIdEmailRoleDocument, {}, token);
    expect(me.data?.me).toEqual({ id: signUp.user.id, email, role: "CUSTOMER" });
    expect((await request(server.app.url, MeIdDocument)).data?.me).toBeNull();
  });

  it("rejects weak input with BAD_USER_INPUT and writes nothing", async () => {
    const res = await request(server.app.url, SignUpDocument, { input: { email: "not-an-email", password: "short", name: "" } });
    expect(codeOf(res)).toBe("BAD_USER_INPUT");
  });

  it("refreshSession rotates; reusing the old token revokes the session", async () => {
    const login = await request(server.app.url, LogInSessionDocument, DEMO.customer);
    const first = login.data!.logIn;
    const refreshed = await request(server.app.url, RefreshSessionPairDocument, { refreshToken: first.refreshToken });
    expect(refreshed.errors).toBeUndefined();
    const second = refreshed.data!.refreshSession;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const reuse = await request(server.app.url, RefreshSessionDocument, { refreshToken: first.refreshToken });
    expect(codeOf(reuse)).toBe("UNAUTHENTICATED");
    // The whole session is gone: its newest refresh token and its access tokens stop working.
    const after = await request(server.app.url, RefreshSessionDocument, { refreshToken: second.refreshToken });
    expect(codeOf(after)).toBe("UNAUTHENTICATED");
    expect((await request(server.app.url, MeIdDocument, {}, second.accessToken)).status).toBe(401);
  });

  it("logOut revokes the session's access tokens", async () => {
    const login = (await request(server.app.url, LogInSessionDocument, DEMO.customer)).data!.logIn;
    expect((await request(server.app.url, MeIdDocument, {}, login.accessToken)).data?.me).not.toBeNull();
    expect((await request(server.app.url, LogOutDocument, { refreshToken: login.refreshToken })).data?.logOut).toBe(true);
    const res = await request(server.app.url, MeIdDocument, {}, login.accessToken);
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe("UNAUTHENTICATED");
  });
});

describe("@auth on mutations and fields", () => {
  it("STAFF can createProduct, CUSTOMER is FORBIDDEN, anonymous is UNAUTHENTICATED", async () => {
    const input = { slug: `test-${Date.now()}`, name: "Test Product", description: "", priceCents: 1234, costCents: 600, categoryId: await categoryId() };
    const staff = await logIn(server.app.url, DEMO.staff);
    const customer = await logIn(server.app.url, DEMO.customer);

    const anonymous = await create(input);
    expect(codeOf(anonymous)).toBe("UNAUTHENTICATED");
    const forbidden = await create(input, customer);
    expect(codeOf(forbidden)).toBe("FORBIDDEN");
    expect((await request(server.app.url, ProductIdBySlugDocument, { slug: input.slug }, staff)).data?.product).toBeNull();

    const created = await create(input, staff);
    expect(created.errors).toBeUndefined();
    expect(created.data?.createProduct).toMatchObject({ slug: input.slug, costPrice: { amountCents: 600 } });
    const duplicate = await create(input, staff);
    expect(codeOf(duplicate)).toBe("CONFLICT");
    const invalid = await create({ ...input, slug: "Bad Slug", priceCents: -1 }, staff);
    expect(codeOf(invalid)).toBe("BAD_USER_INPUT");
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
    const me = ok(await request(server.app.url, MeIdEmailRoleDocument, {}, token)).me!;
    const staffToken = await logIn(server.app.url, DEMO.staff);
    const staffMe = (await request(server.app.url, MeIdDocument, {}, staffToken)).data!.me!;
    const other = await request(server.app.url, NodeUserEmailDocument, { id: staffMe.id }, token);
    expect(other.data?.node).toBeNull();

    // @auth(ownerOrRole): STAFF may read a customer's role (ownerOrRole: STAFF) but not the email (ADMIN).
    // email is non-null in the contract, so a refusal nulls the enclosing node as well.
    const customerQuery = (token: string) => request(server.app.url, NodeUserRoleEmailDocument, { id: me.id }, token);
    const roleByStaff = await request(server.app.url, NodeUserRoleDocument, { id: me.id }, staffToken);
    expect(roleByStaff.errors).toBeUndefined();
    expect(roleByStaff.data?.node).toEqual({ role: "CUSTOMER" });
    const emailByStaff = await customerQuery(staffToken);
    expect(emailByStaff.data?.node).toBeNull();
    expect(emailByStaff.errors?.map((e) => [e.extensions.code, e.path?.at(-1)])).toEqual([["FORBIDDEN", "email"]]);
    const byAdmin = await customerQuery(await logIn(server.app.url, DEMO.admin));
    expect(byAdmin.errors).toBeUndefined();
    expect(byAdmin.data?.node).toEqual({ role: "CUSTOMER", email: DEMO.customer.email });
  });
});

describe("bad tokens are rejected, never treated as anonymous", () => {
  async function expectRejected(token: string) {
    const res = await request(server.app.url, ProductCountDocument, {}, token);
    expect(res.status).toBe(401);
    expect(res.data ?? null).toBeNull();
    expect(codeOf(res)).toBe("UNAUTHENTICATED");
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
    expect((await request(server.app.url, MeEmailDocument, {}, live)).data?.me?.email).toBe(DEMO.customer.email);
  });

  it("garbage and malformed Authorization headers", async () => {
    await expectRejected("not.a.jwt");
    const res = await fetch(server.app.url, { method: "POST", headers: { "content-type": "application/json", authorization: "Basic abc" }, body: JSON.stringify({ query: textOf(MeIdDocument) }) });
    expect(res.status).toBe(401);
  });
});

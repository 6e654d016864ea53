import { createHash, createPublicKey, type JsonWebKey } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { SignJWT, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { App } from "../../src/app.ts";
import {
  LogInPayloadDocument,
  LogOutEverywhereDocument,
  MeFullDocument,
  MeIdDocument,
  RefreshSessionPayloadDocument,
  UserCountDocument,
} from "../generated/graphql.ts";
import { REDIS_URL, codeOf, createTestDatabase, ok, request, signUp, startTestServer, tempDir, uniquePrefix, type TestServerOptions } from "../harness/index.ts";

// ---------------------------------------------------------------- helpers
type Keys = Awaited<ReturnType<typeof generateKeyPair>>;
type Signer = Keys["privateKey"] | Uint8Array;
const PASSWORD = "correct horse battery";
const refresh = (url: string, refreshToken: string) => request(url, RefreshSessionPayloadDocument, { refreshToken });
const IDP = "https://idp.example.test";
const IDP_AUDIENCE = "cartwheel-api";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});
async function database() {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}
function dataDir() {
  const dir = tempDir();
  cleanups.push(() => dir.remove());
  return dir.path;
}
async function server(options: TestServerOptions): Promise<App> {
  const app = await startTestServer(options);
  cleanups.push(() => app.stop());
  return app;
}

const keyPair = (alg: "ES256" | "EdDSA" | "RS256" = "ES256") =>
  generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519", extractable: true } : { extractable: true });
const kidOf = async (key: Keys["publicKey"]) => calculateJwkThumbprint(await exportJWK(key));
const uuidOf = (globalId: string) => Buffer.from(globalId, "base64url").toString("utf8").split(":")[1]!;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A JWT with exactly this header and these claims; iat = now and exp = now + 5 min unless given. */
async function mint(key: Signer, header: { alg: string; kid?: string; typ?: string }, claims: Record<string, unknown>) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + 300, ...claims }).setProtectedHeader(header).sign(key);
}

async function jwksOf(app: App): Promise<{ keys: (JWK & { d?: string })[] }> {
  const res = await fetch(new URL("/.well-known/jwks.json", app.url));
  expect(res.status).toBe(200);
  return res.json() as Promise<{ keys: JWK[] }>;
}

/** HTTP 401, no data, UNAUTHENTICATED: a bad token is never treated as anonymous. */
async function expectRejected(url: string, token: string) {
  const res = await request(url, MeIdDocument, {}, token);
  expect(res.status).toBe(401);
  expect(res.data ?? null).toBeNull();
  expect(codeOf(res)).toBe("UNAUTHENTICATED");
}
async function meId(url: string, token: string): Promise<string> {
  return ok(await request(url, MeIdDocument, {}, token)).me!.id;
}
async function logInFull(url: string, email: string, password = PASSWORD) {
  const res = await request(url, LogInPayloadDocument, { email, password });
  if (!res.data?.logIn) throw new Error(`logIn failed: ${JSON.stringify(res.errors)}`);
  return res.data.logIn;
}
const refreshCode = async (url: string, token: string) => codeOf(await refresh(url, token));

/** An OIDC provider's JWKS endpoint on 127.0.0.1:0 that counts its requests. */
async function fakeIdp() {
  const idp = { jwks: { keys: [] as JWK[] }, requests: 0, url: "" };
  const http = createServer((_req, res) => {
    idp.requests += 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(idp.jwks));
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => http.close(resolve)));
  idp.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/jwks`;
  return idp;
}
const publicJwk = async (keys: Keys, kid: string, alg: string) => ({ ...(await exportJWK(keys.publicKey)), kid, alg, use: "sig" });

// ---------------------------------------------------------------- one server: own key + external IdP
let app: App;
let serverKey: Keys;
let serverKid: string;
let idp: Awaited<ReturnType<typeof fakeIdp>>;
let idpKey: Keys;

beforeAll(async () => {
  [serverKey, idpKey, idp] = await Promise.all([keyPair("ES256"), keyPair("RS256"), fakeIdp()]);
  serverKid = await kidOf(serverKey.publicKey);
  idp.jwks = { keys: [await publicJwk(idpKey, "idp-1", "RS256")] };
  const db = await database();
  app = await server({
    databaseUrl: db.url,
    dataDir: dataDir(),
    env: { JWT_PRIVATE_KEY: await exportPKCS8(serverKey.privateKey), OIDC_ISSUER: IDP, OIDC_AUDIENCE: IDP_AUDIENCE, OIDC_JWKS_URL: idp.url },
  });
});

describe("access tokens: forgeries and invalid claims are rejected with 401", () => {
  let victim: { token: string; userId: string; sub: string; sid: string };
  const header = () => ({ alg: "ES256", kid: serverKid, typ: "at+jwt" });
  const claims = (over: Record<string, unknown> = {}) => ({ sub: victim.sub, sid: victim.sid, role: "CUSTOMER", iss: "cartwheel", aud: "cartwheel", ...over });

  beforeAll(async () => {
    const user = await signUp(app.url);
    const { sub, sid } = decodeJwt(user.token) as { sub: string; sid: string };
    victim = { ...user, sub, sid };
  });

  it("control: jwks.json serves the configured key; a token minted with it for a live session is accepted", async () => {
    const { keys } = await jwksOf(app);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kid: serverKid, alg: "ES256", use: "sig", kty: "EC", crv: "P-256" });
    expect(keys[0]!.d).toBeUndefined();
    expect(decodeProtectedHeader(victim.token)).toEqual({ alg: "ES256", kid: serverKid, typ: "at+jwt" });
    expect(await meId(app.url, await mint(serverKey.privateKey, header(), claims()))).toBe(victim.userId);
    // The role claim is not trusted: the stored role decides.
    const admin = await mint(serverKey.privateKey, header(), claims({ role: "ADMIN" }));
    expect(codeOf(await request(app.url, UserCountDocument, {}, admin))).toBe("FORBIDDEN");
  });

  it("HS256 keyed with the server's public key (algorithm confusion)", async () => {
    const jwk = (await jwksOf(app)).keys[0]!;
    const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
    for (const secret of [publicKey.export({ type: "spki", format: "pem" }), publicKey.export({ type: "spki", format: "der" })]) {
      await expectRejected(app.url, await mint(new Uint8Array(Buffer.from(secret)), { ...header(), alg: "HS256" }, claims()));
    }
  });

  it("another key: unknown kid, missing kid, or the server's kid on another key's signature", async () => {
    const other = await keyPair("ES256");
    await expectRejected(app.url, await mint(other.privateKey, { ...header(), kid: await kidOf(other.publicKey) }, claims()));
    await expectRejected(app.url, await mint(other.privateKey, { alg: "ES256", typ: "at+jwt" }, claims()));
    await expectRejected(app.url, await mint(serverKey.privateKey, { alg: "ES256", typ: "at+jwt" }, claims()));
    await expectRejected(app.url, await mint(other.privateKey, header(), claims()));
  });

  it("the server's own signature with wrong issuer, audience, type, not-yet-valid or another user's session", async () => {
    const sign = (over: Record<string, unknown>, typ = "at+jwt") => mint(serverKey.privateKey, { ...header(), typ }, claims(over));
    await expectRejected(app.url, await sign({ iss: "evil" }));
    await expectRejected(app.url, await sign({ aud: "other-service" }));
    await expectRejected(app.url, await sign({}, "JWT"));
    await expectRejected(app.url, await sign({ nbf: Math.floor(Date.now() / 1000) + 600 }));
    await expectRejected(app.url, await sign({ sid: undefined }));
    await expectRejected(app.url, await sign({ sid: "3f0c8d4e-0000-4000-8000-000000000000" }));
    const other = await signUp(app.url);
    await expectRejected(app.url, await sign({ sid: decodeJwt(other.token).sid }));
  });

  it("a correctly signed token whose sid is not a UUID is a 401, not a server error", async () => {
    await expectRejected(app.url, await mint(serverKey.privateKey, header(), claims({ sid: "not-a-uuid" })));
  });

  it("issued in the future, or living longer than the server issues tokens for", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(app.url, await mint(serverKey.privateKey, header(), claims({ iat: now + 3600, exp: now + 4000 })));
    await expectRejected(app.url, await mint(serverKey.privateKey, header(), claims({ iat: now, exp: now + 10 * 365 * 86400 })));
    // Control: the same claims with a lifetime the server would issue are accepted.
    expect(await meId(app.url, await mint(serverKey.privateKey, header(), claims({ iat: now, exp: now + 600 })))).toBe(victim.userId);
  });

  it("tokens of a deleted user", async () => {
    const user = await signUp(app.url);
    const session = await logInFull(app.url, user.email);
    expect(await meId(app.url, session.accessToken)).toBe(user.userId);
    const deleted = await app.db.sql.query(`DELETE FROM users WHERE id = $1 RETURNING id`, [uuidOf(user.userId)]);
    expect(deleted).toHaveLength(1);
    await expectRejected(app.url, user.token);
    await expectRejected(app.url, session.accessToken);
    expect(await refreshCode(app.url, session.refreshToken)).toBe("UNAUTHENTICATED");
  });
});

describe("key rotation", () => {
  it("old key verifies while listed in JWT_VERIFY_KEYS, new logins use the new kid; retiring it rejects old tokens", async () => {
    const db = await database();
    const dir = dataDir();
    const [k1, k2] = await Promise.all([keyPair("ES256"), keyPair("EdDSA")]);
    const [kid1, kid2] = await Promise.all([kidOf(k1.publicKey), kidOf(k2.publicKey)]);
    const start = async (env: Record<string, string>) => server({ databaseUrl: db.url, dataDir: dir, env });

    const s1 = await start({ JWT_PRIVATE_KEY: await exportPKCS8(k1.privateKey) });
    const user = await signUp(s1.url);
    expect(decodeProtectedHeader(user.token)).toMatchObject({ alg: "ES256", kid: kid1 });
    await s1.stop();

    const s2 = await start({ JWT_PRIVATE_KEY: await exportPKCS8(k2.privateKey), JWT_VERIFY_KEYS: JSON.stringify({ keys: [await exportJWK(k1.publicKey)] }) });
    expect(await meId(s2.url, user.token)).toBe(user.userId);
    const t2 = (await logInFull(s2.url, user.email)).accessToken;
    expect(decodeProtectedHeader(t2)).toEqual({ alg: "EdDSA", kid: kid2, typ: "at+jwt" });
    const both = (await jwksOf(s2)).keys;
    expect(both.map((k) => [k.kid, k.alg, k.use]).sort()).toEqual([[kid1, "ES256", "sig"], [kid2, "EdDSA", "sig"]].sort());
    expect(both.every((k) => k.d === undefined)).toBe(true);
    // A token naming K1's kid but signed by K2 (alg EdDSA) is refused: alg must match the named key.
    await expectRejected(s2.url, await mint(k2.privateKey, { alg: "EdDSA", kid: kid1, typ: "at+jwt" }, decodeJwt(t2)));
    await s2.stop();

    // The same rotation with the old public key as PEM.
    const s2pem = await start({ JWT_PRIVATE_KEY: await exportPKCS8(k2.privateKey), JWT_VERIFY_KEYS: await exportSPKI(k1.publicKey) });
    expect(await meId(s2pem.url, user.token)).toBe(user.userId);
    await s2pem.stop();

    // K1 retired; K2 now given as a private JWK.
    const s3 = await start({ JWT_PRIVATE_KEY: JSON.stringify(await exportJWK(k2.privateKey)) });
    await expectRejected(s3.url, user.token);
    expect(await meId(s3.url, t2)).toBe(user.userId);
    expect((await jwksOf(s3)).keys.map((k) => k.kid)).toEqual([kid2]);
    const t3 = (await logInFull(s3.url, user.email)).accessToken;
    expect(decodeProtectedHeader(t3).kid).toBe(kid2);
    expect(await meId(s3.url, t3)).toBe(user.userId);
  });
});

describe("refresh tokens and sessions", () => {
  it("an expired refresh token, or an expired session, is refused", async () => {
    const user = await signUp(app.url);
    const [a, b, control] = [await logInFull(app.url, user.email), await logInFull(app.url, user.email), await logInFull(app.url, user.email)];
    const expiredToken = await app.db.sql.query(
      `UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1 RETURNING session_id`,
      [sha256(a.refreshToken)],
    );
    expect(expiredToken).toHaveLength(1);
    expect(await refreshCode(app.url, a.refreshToken)).toBe("UNAUTHENTICATED");
    const expiredSession = await app.db.sql.query(
      `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) RETURNING id`,
      [sha256(b.refreshToken)],
    );
    expect(expiredSession).toHaveLength(1);
    expect(await refreshCode(app.url, b.refreshToken)).toBe("UNAUTHENTICATED");
    const refreshed = await refresh(app.url, control.refreshToken);
    expect(refreshed.errors).toBeUndefined();
    expect(refreshed.data?.refreshSession.user.id).toBe(user.userId);
  });

  it("reusing a token two rotations old revokes that whole family, and only it", async () => {
    const user = await signUp(app.url);
    const first = await logInFull(app.url, user.email);
    const other = await logInFull(app.url, user.email);
    const second = (await refresh(app.url, first.refreshToken)).data!.refreshSession;
    const third = (await refresh(app.url, second.refreshToken)).data!.refreshSession;
    expect(await meId(app.url, third.accessToken)).toBe(user.userId);

    expect(await refreshCode(app.url, first.refreshToken)).toBe("UNAUTHENTICATED");
    expect(await refreshCode(app.url, third.refreshToken)).toBe("UNAUTHENTICATED");
    for (const token of [first.accessToken, second.accessToken, third.accessToken]) await expectRejected(app.url, token);
    const rows = await app.db.sql.query(`SELECT revoked_at FROM sessions WHERE id = $1`, [decodeJwt(first.accessToken).sid]);
    expect(rows[0]?.revoked_at).not.toBeNull();

    expect(await meId(app.url, other.accessToken)).toBe(user.userId);
    expect((await refresh(app.url, other.refreshToken)).errors).toBeUndefined();
  });

  it("logOutEverywhere revokes every session of the user and no other user's", async () => {
    const x = await signUp(app.url);
    const y = await signUp(app.url);
    const [x1, x2, y1] = [await logInFull(app.url, x.email), await logInFull(app.url, x.email), await logInFull(app.url, y.email)];
    const anonymous = await request(app.url, LogOutEverywhereDocument);
    expect(codeOf(anonymous)).toBe("UNAUTHENTICATED");

    const res = await request(app.url, LogOutEverywhereDocument, {}, x1.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data?.logOutEverywhere).toBe(true);
    for (const token of [x.token, x1.accessToken, x2.accessToken]) await expectRejected(app.url, token);
    expect(await refreshCode(app.url, x1.refreshToken)).toBe("UNAUTHENTICATED");
    expect(await refreshCode(app.url, x2.refreshToken)).toBe("UNAUTHENTICATED");

    expect(await meId(app.url, y1.accessToken)).toBe(y.userId);
    expect(await meId(app.url, y.token)).toBe(y.userId);
    expect((await refresh(app.url, y1.refreshToken)).errors).toBeUndefined();
    // Sessions, not the account, are gone: x can sign in again.
    expect(await meId(app.url, (await logInFull(app.url, x.email)).accessToken)).toBe(x.userId);
  });
});

describe("external OIDC provider", () => {
  const idpTokenOf = (claims: Record<string, unknown>, header: { alg: string; kid?: string } = { alg: "RS256", kid: "idp-1" }, key: Signer = idpKey.privateKey) =>
    mint(key, header, { iss: IDP, aud: IDP_AUDIENCE, sub: "ext-ada", ...claims });
  const idpToken = idpTokenOf;
  const links = (subject: string) => app.db.sql.query(`SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2`, [IDP, subject]);
  const meFull = (token: string) => request(app.url, MeFullDocument, {}, token);

  it("a valid IdP token signs in a new CUSTOMER, then the same user again; the JWKS is fetched once", async () => {
    expect(idp.requests).toBe(0);
    const first = await meFull(await idpToken({ name: "Ada External", email: "Ada@Idp.Example" }));
    expect(first.errors).toBeUndefined();
    expect(first.data?.me).toMatchObject({ name: "Ada External", role: "CUSTOMER", email: "ada@idp.example" });
    expect(idp.requests).toBe(1);
    const again = await meFull(await idpToken({ name: "Renamed" }));
    expect(again.data?.me?.id).toBe(first.data?.me?.id);
    expect(await links("ext-ada")).toEqual([{ user_id: uuidOf(first.data!.me!.id) }]);
    expect(idp.requests).toBe(1);
  });

  it("an email already used locally is not taken over", async () => {
    const local = await signUp(app.url);
    const res = await meFull(await idpToken({ sub: "ext-squatter", email: local.email, name: "Squatter" }));
    expect(res.errors).toBeUndefined();
    expect(res.data?.me?.id).not.toBe(local.userId);
    expect(res.data?.me?.email).not.toBe(local.email);
    expect(await meId(app.url, (await logInFull(app.url, local.email)).accessToken)).toBe(local.userId);
  });

  it("rejects wrong issuer, audience, expiry and algorithms without refetching", async () => {
    const now = Math.floor(Date.now() / 1000);
    const before = idp.requests;
    const idpToken = (claims: Record<string, unknown>, header?: { alg: string; kid?: string }, key?: Signer) => idpTokenOf({ sub: "ext-mallory", ...claims }, header, key);
    await expectRejected(app.url, await idpToken({ iss: "https://other-idp.example.test" }));
    // The IdP's key cannot mint local tokens.
    await expectRejected(app.url, await mint(idpKey.privateKey, { alg: "RS256", kid: "idp-1", typ: "at+jwt" }, { iss: "cartwheel", aud: "cartwheel", sub: "x", sid: "y", role: "ADMIN" }));
    await expectRejected(app.url, await idpToken({ aud: "cartwheel" }));
    await expectRejected(app.url, await idpToken({ iat: now - 3600, exp: now - 60 }));
    await expectRejected(app.url, await idpToken({ nbf: now + 600 }));
    await expectRejected(app.url, await idpToken({}, { alg: "HS256", kid: "idp-1" }, new TextEncoder().encode(JSON.stringify(idp.jwks.keys[0]))));
    const rs384 = await importPKCS8(await exportPKCS8(idpKey.privateKey), "RS384");
    await expectRejected(app.url, await idpToken({}, { alg: "RS384", kid: "idp-1" }, rs384));
    // The IdP's issuer on a token signed by the server's own key: an unknown kid there (no refetch in the cooldown).
    await expectRejected(app.url, await mint(serverKey.privateKey, { alg: "ES256", kid: serverKid, typ: "at+jwt" }, { iss: IDP, aud: IDP_AUDIENCE, sub: "ext-mallory" }));
    await expectRejected(app.url, await idpToken({ exp: undefined }));
    expect(idp.requests).toBe(before);
    expect(await links("ext-mallory")).toEqual([]);
  });

  it("key rotation at the IdP: one refetch for a new kid, none for the next token or within the cooldown", async () => {
    const idpKey2 = await keyPair("RS256");
    idp.jwks = { keys: [await publicJwk(idpKey2, "idp-2", "RS256")] };
    const base = idp.requests;
    // jose refetches on an unknown kid at most once per 30 s cooldown: move the clock past it instead of sleeping.
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() + 31_000);
      const ada = await idpToken({}, { alg: "RS256", kid: "idp-2" }, idpKey2.privateKey);
      const first = await meFull(ada);
      expect(first.errors).toBeUndefined();
      expect(first.data?.me?.name).toBe("Ada External");
      expect(idp.requests).toBe(base + 1);
      expect(await meId(app.url, await idpToken({ sub: "ext-bob" }, { alg: "RS256", kid: "idp-2" }, idpKey2.privateKey))).not.toBe(first.data?.me?.id);
      expect(idp.requests).toBe(base + 1);
      const stranger = await keyPair("RS256");
      await expectRejected(app.url, await idpToken({}, { alg: "RS256", kid: "idp-3" }, stranger.privateKey));
      expect(idp.requests).toBe(base + 1);
      // The retired kid is gone after the refetch.
      await expectRejected(app.url, await idpToken({}));
      expect(idp.requests).toBe(base + 1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("failed log-in limits", () => {
  let a: App;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  const prefix = uniquePrefix();
  const attempt = (url: string, email: string, password: string) => request(url, LogInPayloadDocument, { email, password });
  const fail = async (url: string, email: string, times: number) => {
    for (let i = 0; i < times; i++) expect((await attempt(url, i % 2 ? email.toUpperCase() : email, `wrong password ${i}`)).errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
  };
  const expectLimited = async (url: string, email: string) => {
    const res = await attempt(url, email, PASSWORD);
    expect(res.status).toBe(429);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions.code).toBe("RATE_LIMITED");
    const retry = res.errors?.[0]?.extensions.retryAfterSeconds as number;
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
  };

  beforeAll(async () => {
    db = await database();
    dir = dataDir();
    a = await server({ databaseUrl: db.url, dataDir: dir, redisPrefix: prefix });
  });

  it("per account: 5 failures lock out even the right password (HTTP 429), shared through Redis; others unaffected", async () => {
    const alice = await signUp(a.url);
    const bob = await signUp(a.url);
    await fail(a.url, alice.email, 5);
    await expectLimited(a.url, alice.email);
    expect((await logInFull(a.url, bob.email)).user.id).toBe(bob.userId);
    // An unknown address is limited the same way (no account enumeration).
    const nobody = `nobody-${Date.now()}@example.test`;
    await fail(a.url, nobody, 5);
    await expectLimited(a.url, nobody);

    const redis = new Redis(REDIS_URL);
    try {
      expect((await redis.keys(`${prefix}*`)).some((key) => key.includes(alice.email))).toBe(true);
    } finally {
      redis.disconnect();
    }
    const b = await server({ databaseUrl: db.url, dataDir: dir, redisPrefix: prefix });
    await expectLimited(b.url, alice.email);
    expect((await logInFull(b.url, bob.email)).user.id).toBe(bob.userId);
  });

  it("a success resets the account's counter", async () => {
    const carol = await signUp(a.url);
    await fail(a.url, carol.email, 4);
    await logInFull(a.url, carol.email);
    await fail(a.url, carol.email, 4);
    expect((await logInFull(a.url, carol.email)).user.id).toBe(carol.userId);
    await fail(a.url, carol.email, 5);
    await expectLimited(a.url, carol.email);
  });

  it("per address: failures across accounts block every account from that address", async () => {
    const c = await server({ databaseUrl: db.url, dataDir: dir, env: { LOGIN_MAX_FAILURES_PER_ADDRESS: "3" } });
    const [u1, u2, u3, u4] = [await signUp(c.url), await signUp(c.url), await signUp(c.url), await signUp(c.url)];
    await fail(c.url, u1.email, 1);
    await fail(c.url, u2.email, 1);
    await logInFull(c.url, u4.email); // two failures: still allowed, and a success does not clear the address
    await fail(c.url, u3.email, 1);
    await expectLimited(c.url, u4.email);
    await expectLimited(c.url, u1.email);
  });
});

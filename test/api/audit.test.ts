// The security audit log (src/modules/audit): who may read it, what each recorded action looks
// like (actor, target, details), that a row lives and dies with the transaction of its change,
// paging, batching of `actor`, and that no secret ever lands in it.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { keyOf } from "../../src/lib/ids.ts";
import { AuditLog, PartnerAudit } from "../../src/modules/audit/index.ts";
import {
  AdjustStockDocument,
  AuditActionsDocument,
  AuditActorsDocument,
  AuditNodeDocument,
  AuditPageDocument,
  CreateCategoryDocument,
  CreateProductDocument,
  FirstProductStockDocument,
  LogInDocument,
  LogInUserDocument,
  LogOutDocument,
  LogOutEverywhereDocument,
  MeIdDocument,
  RefreshSessionTokenDocument,
  SetUserRoleDocument,
  UpdateCategoryDocument,
  UpdateProductDocument,
  type AuditPageQueryVariables,
} from "../generated/graphql.ts";
import { DEMO, logIn, ok, request, signUp, tempDir, useDatabase } from "../harness/index.ts";
import { codeOf } from "../harness/shop.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

// One partner whose manifest holds the app's Products operation (not Categories).
const APP_MANIFEST = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
const [PRODUCTS_ID] = Object.entries(APP_MANIFEST).find(([, text]) => /query Products\b/.test(text))!;
const [CATEGORIES_ID] = Object.entries(APP_MANIFEST).find(([, text]) => /query Categories\b/.test(text))!;
const PARTNER_KEY = `cwp_${randomBytes(24).toString("base64url")}`;
const partnerDir = tempDir("cartwheel-audit-partners-");
writeFileSync(join(partnerDir.path, "acme.json"), JSON.stringify({ [PRODUCTS_ID]: APP_MANIFEST[PRODUCTS_ID] }));
writeFileSync(join(partnerDir.path, "partners.json"), JSON.stringify({ partners: [{ id: "acme", keySha256: sha256(PARTNER_KEY), manifest: "acme.json" }] }));
afterAll(() => partnerDir.remove());

const database = useDatabase();
let app: App;
let admin: string;
let staff: string;
let customer: string;
/** Every password, token and key this file sends: none may appear in the log. */
const secrets: string[] = [PARTNER_KEY, DEMO.admin.password, DEMO.staff.password, DEMO.customer.password];

beforeAll(async () => {
  app = await database.start({ env: { PARTNERS_FILE: join(partnerDir.path, "partners.json") } });
  [admin, staff, customer] = await Promise.all([logIn(app.url, DEMO.admin), logIn(app.url, DEMO.staff), logIn(app.url, DEMO.customer)]);
  secrets.push(admin, staff, customer);
});

interface AuditNode {
  id: string;
  action: string;
  actor: { id: string; name: string } | null;
  target: string | null;
  details: string | null;
  createdAt: string;
}

const page = (variables: AuditPageQueryVariables, token?: string) => request(app.url, AuditPageDocument, variables, token);

/** The newest `first` rows, read as ADMIN through the API. */
async function newest(first = 100): Promise<AuditNode[]> {
  return ok(await page({ first }, admin)).auditEvents.edges.map((e) => e.node);
}

/** The newest row of `action` about `target`; fails the test when there is none. */
async function latest(action: string, target: string | null): Promise<AuditNode & { facts: Record<string, unknown> }> {
  const row = (await newest()).find((r) => r.action === action && r.target === target);
  expect(row, `no ${action} row for ${target}`).toBeDefined();
  return { ...row!, facts: row!.details ? JSON.parse(row!.details) : {} };
}

const rowsIn = async (where: string, values: unknown[]) => Number((await app.db.sql.query(`SELECT count(*)::int AS n FROM audit_events WHERE ${where}`, values))[0]!.n);

async function session(email: string, password: string) {
  const { logIn } = ok(await request(app.url, LogInUserDocument, { email, password }));
  secrets.push(logIn.accessToken, logIn.refreshToken);
  return logIn;
}

const me = async (token: string) => (await request(app.url, MeIdDocument, {}, token)).data!.me!.id;

describe("who may read the log", () => {
  it("ADMIN reads auditEvents; STAFF and CUSTOMER get FORBIDDEN, anonymous UNAUTHENTICATED; node(id) answers ADMIN only", async () => {
    const read = ok(await page({ first: 5 }, admin));
    expect(read.auditEvents.edges.length).toBeGreaterThan(0);
    for (const [token, code] of [[staff, "FORBIDDEN"], [customer, "FORBIDDEN"], [undefined, "UNAUTHENTICATED"]] as const) {
      const res = await page({ first: 5 }, token);
      expect(codeOf(res)).toBe(code);
      expect(res.data?.auditEvents).toBeFalsy();
    }
    const id = read.auditEvents.edges[0]!.node.id;
    const node = (token?: string) => request(app.url, AuditNodeDocument, { id }, token);
    const asAdmin = await node(admin);
    expect(asAdmin.data?.node).toEqual({ __typename: "AuditEvent", id, action: read.auditEvents.edges[0]!.node.action });
    for (const token of [staff, customer, undefined]) expect((await node(token)).data?.node).toBeNull();
  });
});

describe("what is recorded", () => {
  it("a log-in names the user as actor and target; a failure has no actor, names a known account by id and never the address typed", async () => {
    const account = await signUp(app.url, "Audit Login");
    const ok = await session(account.email, "correct horse battery");
    const row = await latest("auth.logIn", ok.user.id);
    expect(row.actor?.id).toBe(ok.user.id);
    expect(row.facts).toMatchObject({ clientAddress: expect.any(String) });

    const wrong = `wrong-${randomUUID()}`;
    secrets.push(wrong);
    expect(codeOf(await request(app.url, LogInDocument, { email: account.email, password: wrong }))).toBe("UNAUTHENTICATED");
    const failed = await latest("auth.logInFailed", ok.user.id);
    expect(failed.actor).toBeNull();
    expect(failed.facts).toMatchObject({ reason: "wrong password" });

    // A password typed into the email field must not end up in the log.
    const typo = `${randomUUID()}-typed-as-email`;
    secrets.push(typo);
    const before = await rowsIn(`action = 'auth.logInFailed' AND target IS NULL`, []);
    expect(codeOf(await request(app.url, LogInDocument, { email: typo, password: wrong }))).toBe("UNAUTHENTICATED");
    expect(await rowsIn(`action = 'auth.logInFailed' AND target IS NULL`, [])).toBe(before + 1);
    const unknown = await latest("auth.logInFailed", null);
    expect(unknown.facts).toEqual({ reason: "unknown account", clientAddress: expect.any(String) });
  });

  it("a role change names the admin as actor, the user as target, and both roles", async () => {
    const user = await signUp(app.url, "Audit Promoted");
    const res = await request(app.url, SetUserRoleDocument, { userId: user.userId, role: "STAFF" }, admin);
    expect(res.errors).toBeUndefined();
    const row = await latest("user.roleChanged", user.userId);
    expect(row.actor?.id).toBe(await me(admin));
    expect(row.facts).toEqual({ roleBefore: "CUSTOMER", role: "STAFF" });
  });

  it("revocations: logOut (actor the user), a reused refresh token (no actor), logOutEverywhere", async () => {
    const account = await signUp(app.url, "Audit Sessions");
    const first = await session(account.email, "correct horse battery");
    expect(await request(app.url, LogOutDocument, { refreshToken: first.refreshToken })).toMatchObject({ data: { logOut: true } });
    const loggedOut = await latest("session.revoked", account.userId);
    expect(loggedOut.actor?.id).toBe(account.userId);
    expect(loggedOut.facts).toEqual({ sessionId: expect.any(String), reason: "logout" });

    const second = await session(account.email, "correct horse battery");
    const rotated = await request(app.url, RefreshSessionTokenDocument, { refreshToken: second.refreshToken });
    secrets.push(rotated.data!.refreshSession.refreshToken);
    expect(codeOf(await request(app.url, RefreshSessionTokenDocument, { refreshToken: second.refreshToken }))).toBe("UNAUTHENTICATED");
    const reuse = await latest("session.revoked", account.userId);
    expect(reuse.actor).toBeNull();
    expect(reuse.facts).toMatchObject({ reason: "refresh token reuse" });
    expect(reuse.facts.sessionId).not.toBe(loggedOut.facts.sessionId);

    const third = await session(account.email, "correct horse battery");
    expect((await request(app.url, LogOutEverywhereDocument, {}, third.accessToken)).data?.logOutEverywhere).toBe(true);
    const everywhere = await latest("session.revokedAll", account.userId);
    expect(everywhere.actor?.id).toBe(account.userId);
    // The sign-up's session and the third one: the first two were revoked already.
    expect(everywhere.facts).toEqual({ sessions: 2, reason: "logout everywhere" });
  });

  it("staff catalog edits: createCategory, updateCategory, createProduct, updateProduct and adjustStock, each with the staff actor and its target", async () => {
    const staffId = await me(staff);
    const slug = `audit-${randomUUID().slice(0, 8)}`;
    const category = await request(app.url, CreateCategoryDocument, { input: { slug, name: "Audited" } }, staff);
    expect(category.errors).toBeUndefined();
    const categoryId = category.data!.createCategory.id;
    expect(await latest("category.created", categoryId)).toMatchObject({ actor: { id: staffId }, facts: { slug, name: "Audited" } });

    expect((await request(app.url, UpdateCategoryDocument, { id: categoryId, patch: { name: "Audited too" } }, staff)).errors).toBeUndefined();
    expect(await latest("category.updated", categoryId)).toMatchObject({ actor: { id: staffId }, facts: { nameBefore: "Audited", name: "Audited too" } });

    const input = { slug: `${slug}-p`, name: "Audited Product", description: "d", priceCents: 900, categoryId };
    const product = await request(app.url, CreateProductDocument, { input }, staff);
    expect(product.errors).toBeUndefined();
    const productId = product.data!.createProduct.id;
    expect(await latest("product.created", productId)).toMatchObject({ actor: { id: staffId }, facts: { slug: input.slug, priceCents: 900, categoryId } });

    expect((await request(app.url, UpdateProductDocument, { id: productId, patch: { priceCents: 800, description: "longer" } }, staff)).errors).toBeUndefined();
    expect(await latest("product.updated", productId)).toMatchObject({ actor: { id: staffId }, facts: { fields: ["description", "priceCents"], priceCents: 800 } });

    expect((await request(app.url, AdjustStockDocument, { productId, delta: 4 }, staff)).data?.adjustStock.stock).toBe(4);
    expect(await latest("stock.adjusted", productId)).toMatchObject({ actor: { id: staffId }, facts: { delta: 4 } });
  });
});

describe("one transaction with the change", () => {
  it("a refused adjustStock leaves no row (its row was written before the refusal); an applied one leaves exactly one", async () => {
    const [first] = (await request(app.url, FirstProductStockDocument)).data!.products.edges;
    const { id, stock } = first!.node;
    const rows = () => rowsIn(`action = 'stock.adjusted' AND target = $1`, [id]);
    const before = await rows();
    const refused = await request(app.url, AdjustStockDocument, { productId: id, delta: -(stock + 1) }, staff);
    expect(codeOf(refused)).toBe("INSUFFICIENT_STOCK");
    expect(await rows()).toBe(before);
    expect((await request(app.url, AdjustStockDocument, { productId: id, delta: 1 }, staff)).errors).toBeUndefined();
    expect(await rows()).toBe(before + 1);
  });

  it("a createCategory refused as CONFLICT leaves no row", async () => {
    const slug = `audit-dup-${randomUUID().slice(0, 8)}`;
    const create = () => request(app.url, CreateCategoryDocument, { input: { slug, name: "Twice" } }, staff);
    expect((await create()).errors).toBeUndefined();
    expect(codeOf(await create())).toBe("CONFLICT");
    expect(await rowsIn(`action = 'category.created' AND details->>'slug' = $1`, [slug])).toBe(1);
  });
});

describe("partner keys", () => {
  const run = (documentId: string, key: string) =>
    fetch(app.url, { method: "POST", headers: { "content-type": "application/json", "x-partner-key": key }, body: JSON.stringify({ documentId, variables: { first: 1 } }) });

  /** Waits (bounded) for a row of `action` about `target`: partner rows are written beside the request. */
  async function rowOf(action: string, target: string | null, operation: string, ms = 5_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const rows = await app.db.sql.query(`SELECT details FROM audit_events WHERE action = $1 AND target IS NOT DISTINCT FROM $2 AND details->>'operation' = $3`, [action, target, operation]);
      if (rows.length > 0) return rows;
      if (Date.now() > deadline) throw new Error(`no ${action} row for ${target} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("records a partner's allowed operation, its refused one and an unknown key, once a minute each", async () => {
    for (let i = 0; i < 3; i++) expect((await run(PRODUCTS_ID, PARTNER_KEY)).status).toBe(200);
    expect((await run(CATEGORIES_ID, PARTNER_KEY)).status).toBe(400);
    const stranger = `cwp_${randomBytes(24).toString("base64url")}`;
    secrets.push(stranger);
    expect((await run(PRODUCTS_ID, stranger)).status).toBe(401);
    expect(await rowOf("partner.keyUsed", "acme", "Products")).toEqual([{ details: { operation: "Products", outcome: "allowed", transport: "http" } }]);
    expect(await rowOf("partner.keyRefused", "acme", "(not in manifest)")).toHaveLength(1);
    expect(await rowOf("partner.keyRefused", null, "(unknown key)")).toHaveLength(1);
  });

  it("writes one row per partner, operation and outcome per window, the next one counting the uses in between", async () => {
    let now = 1_000_000;
    const errors: unknown[] = [];
    const partner = `bound-${randomUUID().slice(0, 8)}`;
    const audit = new PartnerAudit(new AuditLog(app.db.prisma), { windowMs: 60_000, now: () => now, onError: (e) => errors.push(e) });
    const use = { partnerId: partner, operation: "Products", outcome: "allowed", transport: "http" } as const;
    const writes = [audit.note(use), audit.note(use), audit.note(use), audit.note({ ...use, outcome: "refused", operation: "(not in manifest)" })];
    expect(writes.map((w) => w !== undefined)).toEqual([true, false, false, true]);
    await Promise.all(writes);
    now += 59_999;
    expect(audit.note(use)).toBeUndefined();
    now += 1;
    await audit.note(use);
    const rows = await app.db.sql.query(`SELECT action, details FROM audit_events WHERE target = $1 ORDER BY seq`, [partner]);
    expect(rows).toHaveLength(3);
    // The first two were written concurrently (either may come first); the third after both.
    expect(rows.slice(0, 2)).toEqual(
      expect.arrayContaining([
        { action: "partner.keyUsed", details: { operation: "Products", outcome: "allowed", transport: "http" } },
        { action: "partner.keyRefused", details: { operation: "(not in manifest)", outcome: "refused", transport: "http" } },
      ]),
    );
    expect(rows[2]).toEqual({ action: "partner.keyUsed", details: { operation: "Products", outcome: "allowed", transport: "http", usesSincePreviousRow: 4 } });
    expect(errors).toEqual([]);
  });
});

describe("paging", () => {
  it("newest first, cursors continue without overlap, totalCount counts every row, bad arguments are BAD_USER_INPUT", async () => {
    const all = ok(await page({ first: 100 }, admin));
    const total = all.auditEvents.totalCount;
    expect(total).toBe(await rowsIn("true", []));
    const page1 = ok(await page({ first: 3 }, admin)).auditEvents;
    const page2 = ok(await page({ first: 3, after: page1.pageInfo.endCursor }, admin)).auditEvents;
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const ids = [...page1.edges, ...page2.edges].map((e) => e.node.id);
    expect(ids).toEqual(all.auditEvents.edges.slice(0, 6).map((e) => e.node.id));
    // Newest first: in the order rows were written (seq), not created_at, which is when each
    // transaction began and so may tie or cross between concurrent ones.
    const bySeq = await app.db.sql.query(`SELECT id FROM audit_events ORDER BY seq DESC LIMIT 100`);
    expect(all.auditEvents.edges.map((e) => keyOf(e.node.id, "AuditEvent"))).toEqual(bySeq.map((r) => r.id));
    const slug = `audit-newest-${randomUUID().slice(0, 8)}`;
    const made = await request(app.url, CreateCategoryDocument, { input: { slug, name: "Newest" } }, staff);
    expect((await newest(1))[0]).toMatchObject({ action: "category.created", target: made.data!.createCategory.id });
    // The last page: no next page, and nothing after it.
    const edges = all.auditEvents.edges;
    if (total <= 100) {
      expect(all.auditEvents.pageInfo.hasNextPage).toBe(false);
      const beyond = await page({ first: 5, after: edges.at(-1)!.cursor }, admin);
      expect(beyond.data?.auditEvents).toMatchObject({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    }
    for (const variables of [{ first: 0 }, { first: 101 }, { first: 2, after: "not-a-cursor" }, { first: 2, after: Buffer.from('["x"]').toString("base64url") }]) {
      expect(codeOf(await page(variables, admin))).toBe("BAD_USER_INPUT");
    }
  });

  it("reads the actors of a page in one batch: the same statements for 3 rows as for 30 rows of many actors", async () => {
    const accounts = await Promise.all(Array.from({ length: 8 }, (_, i) => signUp(app.url, `Audit Actor ${i}`)));
    for (const account of [...accounts, ...accounts]) await session(account.email, "correct horse battery");
    const withActors = AuditActorsDocument;
    const without = AuditActionsDocument;
    const statements = async (document: typeof withActors | typeof without, first: number) => {
      const before = app.db.statementCount();
      const res = ok(await request(app.url, document, { first }, admin));
      expect(res.auditEvents.edges).toHaveLength(first);
      const nodes: { action: string; actor?: { id: string } | null }[] = res.auditEvents.edges.map((e) => e.node);
      const actors = nodes.map((n) => n.actor?.id).filter(Boolean);
      return { count: app.db.statementCount() - before, actors: new Set(actors).size };
    };
    const small = await statements(withActors, 3);
    const large = await statements(withActors, 30);
    expect(large.actors).toBeGreaterThanOrEqual(8);
    expect(large.count).toBe(small.count);
    // Every actor of the page in one statement beside the page's own.
    expect(large.count).toBe((await statements(without, 30)).count + 1);
  });
});

describe("secrets", () => {
  it("no row holds a password, access or refresh token, or partner key used in this file", async () => {
    const rows = await app.db.sql.query(`SELECT action, target, details::text AS details FROM audit_events`);
    expect(rows.length).toBeGreaterThan(20);
    const text = JSON.stringify(rows);
    for (const secret of secrets) expect(text.includes(secret), `a secret of ${secret.length} characters is in the log`).toBe(false);
    // Refresh tokens are stored only as hashes: not even those belong here.
    const hashes = await app.db.sql.query(`SELECT token_hash FROM refresh_tokens`);
    for (const { token_hash } of hashes) expect(text.includes(String(token_hash))).toBe(false);
  });
});

// createCategory / updateCategory (API.md v1.1): who may call them, validation with the contract's
// codes, nothing half-written on a refusal, and new categories usable at once.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { toGlobalId } from "../../src/lib/ids.ts";
import {
  CategoryListDocument,
  CreateCategoryReadDocument,
  CreateProductCategoryDocument,
  NodeCategoryProductCountDocument,
  UpdateCategoryReadDocument,
  type CategoryInput,
  type CategoryPatch,
} from "../generated/graphql.ts";
import { DEMO, codeOf, logIn, ok, request, useTestServer } from "../harness/index.ts";

const server = useTestServer();
let staff: string;
let customer: string;
beforeAll(async () => {
  [staff, customer] = await Promise.all([logIn(server.app.url, DEMO.staff), logIn(server.app.url, DEMO.customer)]);
});

// `null`: anonymous (undefined would take the default).
const create = (input: CategoryInput, token: string | null = staff) => request(server.app.url, CreateCategoryReadDocument, { input }, token ?? undefined);
const update = (id: string, patch: CategoryPatch, token: string | null = staff) => request(server.app.url, UpdateCategoryReadDocument, { id, patch }, token ?? undefined);
const freshSlug = () => `cat-${randomUUID().slice(0, 8)}`;

/** Every category's slug and name, in list order, as the database holds them. */
const rows = () => server.app.db.sql.query(`SELECT id, slug, name FROM categories ORDER BY position, name`);
const categories = async () => ok(await request(server.app.url, CategoryListDocument)).categories;

describe("createCategory", () => {
  it("STAFF creates a category, last in the list, empty, and can put a product in it at once", async () => {
    const slug = freshSlug();
    const made = await create({ slug, name: "  Garden Tools  " });
    expect(made.errors).toBeUndefined();
    const category = made.data!.createCategory;
    expect(category).toMatchObject({ slug, name: "Garden Tools", products: { totalCount: 0 } });
    const listed = await categories();
    expect(listed.at(-1)).toEqual({ id: category.id, slug, name: "Garden Tools" });
    const product = await request(
      server.app.url,
      CreateProductCategoryDocument,
      { input: { slug: `${slug}-rake`, name: "Rake", description: "", priceCents: 1500, categoryId: category.id } },
      staff,
    );
    expect(product.data?.createProduct.category.id).toBe(category.id);
  });

  it("CUSTOMER gets FORBIDDEN and anonymous UNAUTHENTICATED; nothing is written", async () => {
    const before = await rows();
    const slug = freshSlug();
    expect(codeOf(await create({ slug, name: "Nope" }, customer))).toBe("FORBIDDEN");
    expect(codeOf(await create({ slug, name: "Nope" }, null))).toBe("UNAUTHENTICATED");
    expect(await rows()).toEqual(before);
  });

  it("a bad slug or name is BAD_USER_INPUT naming the argument, a taken slug CONFLICT; nothing is written", async () => {
    const taken = (await categories())[0]!.slug;
    const before = await rows();
    for (const [input, argument] of [
      [{ slug: "Has Spaces", name: "x" }, "slug"],
      [{ slug: "double--dash", name: "x" }, "slug"],
      [{ slug: "a".repeat(101), name: "x" }, "slug"],
      [{ slug: freshSlug(), name: "   " }, "name"],
      [{ slug: freshSlug(), name: "n".repeat(101) }, "name"],
    ] as const) {
      const res = await create(input);
      expect(codeOf(res), JSON.stringify(input)).toBe("BAD_USER_INPUT");
      expect(res.errors![0]!.extensions.argument).toBe(argument);
    }
    const dup = await create({ slug: taken, name: "Another" });
    expect(codeOf(dup)).toBe("CONFLICT");
    expect(dup.errors![0]!.message).toContain(taken);
    expect(await rows()).toEqual(before);
  });
});

describe("updateCategory", () => {
  it("renames and re-slugs; the category keeps its id, place and products", async () => {
    const [first] = await categories();
    const products = async () => {
      const node = ok(await request(server.app.url, NodeCategoryProductCountDocument, { id: first!.id })).node;
      if (!node || !("products" in node)) throw new Error(`not a category: ${JSON.stringify(node)}`);
      return node.products.totalCount;
    };
    const count = await products();
    const slug = freshSlug();
    const renamed = await update(first!.id, { name: "Renamed" });
    expect(renamed.data?.updateCategory).toEqual({ id: first!.id, slug: first!.slug, name: "Renamed" });
    const reslugged = await update(first!.id, { slug, name: null });
    expect(reslugged.data?.updateCategory).toEqual({ id: first!.id, slug, name: "Renamed" });
    expect((await categories())[0]).toEqual({ id: first!.id, slug, name: "Renamed" });
    expect(await products()).toBe(count);
  });

  it("an empty patch, a bad slug or name, or a malformed id is BAD_USER_INPUT; an unknown id NOT_FOUND; STAFF only", async () => {
    const [category] = await categories();
    const before = await rows();
    for (const [id, patch, argument] of [
      [category!.id, {}, "patch"],
      [category!.id, { slug: null, name: null }, "patch"],
      [category!.id, { slug: "Bad Slug" }, "slug"],
      [category!.id, { name: "" }, "patch.name"],
      ["not-an-id", { name: "x" }, "id"],
      [toGlobalId("Product", randomUUID()), { name: "x" }, "id"],
    ] as const) {
      const res = await update(id, patch);
      expect(codeOf(res), JSON.stringify(patch)).toBe("BAD_USER_INPUT");
      expect(res.errors![0]!.extensions.argument).toBe(argument);
    }
    expect(codeOf(await update(toGlobalId("Category", randomUUID()), { name: "Ghost" }))).toBe("NOT_FOUND");
    expect(codeOf(await update(category!.id, { name: "Mine" }, customer))).toBe("FORBIDDEN");
    expect(codeOf(await update(category!.id, { name: "Mine" }, null))).toBe("UNAUTHENTICATED");
    expect(await rows()).toEqual(before);
  });

  it("a slug another category has is CONFLICT, and the name given with it is not applied either", async () => {
    const [a, b] = await categories();
    const before = await rows();
    const res = await update(a!.id, { slug: b!.slug, name: "Half Written" });
    expect(codeOf(res)).toBe("CONFLICT");
    expect(await rows()).toEqual(before);
    const audited = await server.app.db.sql.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'category.updated' AND details->>'name' = 'Half Written'`);
    expect(audited[0]!.n).toBe(0);
  });
});

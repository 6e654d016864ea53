import type { Viewer } from "../../auth/roles.ts";
import type { Prisma } from "../../db/client.ts";
import { transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { ALL, event } from "../../events/topics.ts";
import { Prisma as PrismaNS } from "../../generated/prisma/client.ts";
import { badInput, conflict, notFound } from "../../graphql/errors.ts";
import { pageSize, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { formatMoney } from "../../lib/money.ts";
import type { NotificationsService } from "../notifications/index.ts";
import type { AuditDetails, AuditLog } from "../audit/index.ts";
import type { CatalogLoaders } from "./catalog.loaders.ts";
import type { CatalogStock } from "./catalog.stock.ts";
import { canSeeProduct, seesAllProducts, visibleProductsWhere } from "./catalog.visibility.ts";
import type { CategoryInput, CategoryPatch, ProductFilter, ProductInput, ProductOrder, ProductPatch } from "./catalog.args.ts";
import {
  categoryKey,
  productKey,
  validCents,
  validCurrency,
  validSlug,
  validText,
} from "./catalog.validation.ts";
import type { CategoryRow, ProductRow } from "./product.type.ts";
import type { DirectOperation } from "./catalog.json.ts";
import { CatalogReads, type Read } from "./catalog.reads.ts";
import { SORT_COLUMN, keyset as keysetOf, validFilter, type SortColumn } from "./catalog.paging.ts";
import type { SelectionInfo } from "./catalog.selection.ts";


const CATEGORY_NAME_MAX = 100;

export interface ListProductsInput {
  first?: number | null;
  after?: string | null;
  filter?: ProductFilter | null;
  orderBy?: ProductOrder | null;
}

/** Products and categories: listing, lookup and staff edits. Stock belongs to the inventory module. */
export class CatalogService {
  private readonly reads: CatalogReads | null;
  private readonly directReads: boolean;
  private readonly stock: CatalogStock;

  /**
   * @param options.compiledReads whether the hot reads (products, product, node, categories) are
   *   one statement built from the selection (catalog.reads.ts; the default), or the general
   *   path below with its loaders (`CATALOG_READS=general`, kept to compare the two).
   * @param options.directReads whether an operation of only plain catalog fields gets its whole
   *   answer rendered by PostgreSQL (catalog.json.ts; the default `CATALOG_READS=direct`).
   * @param options.stock the inventory module's stock for reads and new products (required: the
   *   catalog never reads stock tables itself).
   */
  constructor(
    private readonly prisma: Prisma,
    private readonly bus: EventBus,
    private readonly notifications: NotificationsService,
    private readonly audit: AuditLog,
    options: { stock: CatalogStock; compiledReads?: boolean; directReads?: boolean; read?: Read },
  ) {
    this.stock = options.stock;
    this.reads =
      options.compiledReads === false ? null : new CatalogReads(options.read ?? ((text, values) => prisma.$queryRawUnsafe(text, ...values)), options.stock);
    this.directReads = this.reads !== null && options.directReads === true;
  }

  /**
   * The text of the whole `data` of a query PostgreSQL can render alone (only plain catalog
   * fields; catalog.json.ts), or undefined: the executor answers it.
   */
  answerDirectly(viewer: Viewer | null, op: DirectOperation): Promise<string | undefined> {
    return this.directReads ? this.reads!.json(viewer, op) : Promise.resolve(undefined);
  }

  /** A page of products; with `info`, one statement that also reads what is selected below them. */
  listProducts(viewer: Viewer | null, input: ListProductsInput, info?: SelectionInfo): Promise<ConnectionResult<ProductRow>> {
    return this.reads && info ? this.reads.products(viewer, input, info) : this.listProductsGeneral(viewer, input);
  }

  /** A product by id or slug the viewer may see, or null; with `info`, one statement. */
  async product(viewer: Viewer | null, by: { id: string } | { slug: string }, loaders: CatalogLoaders, info?: SelectionInfo): Promise<ProductRow | null> {
    if (this.reads && info) return this.reads.product(viewer, by, info);
    const row = "id" in by ? await loaders.productById.load(by.id) : await this.prisma.product.findUnique({ where: { slug: by.slug } });
    return row && canSeeProduct(viewer, row) ? row : null;
  }

  /** Every category; with `info`, one statement that also reads their selected product pages. */
  categories(viewer: Viewer | null, info?: SelectionInfo): Promise<CategoryRow[]> {
    return this.reads && info ? this.reads.categories(viewer, info) : this.prisma.category.findMany({ orderBy: [{ position: "asc" }, { name: "asc" }] });
  }

  /**
   * Whether the product may be shown to `viewer` now (subscription events must not tell anonymous
   * watchers about drafts and archived products), read through the event's loaders: fresh for
   * every event and shared by all its subscribers.
   */
  async isVisibleNow(viewer: Viewer | null, productId: string, loaders: CatalogLoaders): Promise<boolean> {
    if (seesAllProducts(viewer)) return true;
    const row = await loaders.productById.load(productId);
    return row !== null && canSeeProduct(viewer, row);
  }

  private async listProductsGeneral(viewer: Viewer | null, input: ListProductsInput): Promise<ConnectionResult<ProductRow>> {
    const limit = pageSize(input.first);
    const where = this.filterWhere(viewer, input.filter ?? {});
    const column = SORT_COLUMN[input.orderBy?.field ?? "NAME"];
    const direction = input.orderBy?.direction === "DESC" ? "desc" : "asc";
    const after = keysetOf(column, input.after);
    const keyset = after ? keysetWhere(column, direction, after) : undefined;
    const rows = await this.prisma.product.findMany({
      where: keyset ? { AND: [where, keyset] } : where,
      orderBy: [{ [column]: direction }, { id: direction }],
      take: limit + 1,
    });
    return toConnection(
      rows,
      limit,
      (row) => [column === "createdAt" ? row.createdAt.toISOString() : row[column], row.id],
      () => this.prisma.product.count({ where }),
    );
  }

  private filterWhere(viewer: Viewer | null, input: ProductFilter): PrismaNS.ProductWhereInput {
    const filter = validFilter(input);
    const and: PrismaNS.ProductWhereInput[] = [visibleProductsWhere(viewer)];
    if (filter.categoryId !== undefined) and.push({ categoryId: filter.categoryId });
    if (filter.searchLiteral !== undefined) {
      // Prisma's `contains` puts its value within %…% as it is: escaped, % and _ match themselves.
      const literal = filter.searchLiteral;
      and.push({
        OR: [
          { name: { contains: literal, mode: "insensitive" } },
          { description: { contains: literal, mode: "insensitive" } },
        ],
      });
    }
    const min = filter.minPriceCents;
    const max = filter.maxPriceCents;
    if (min !== undefined || max !== undefined) and.push({ priceCents: { gte: min, lte: max } });
    if (filter.inStock !== undefined) and.push(this.stock.inStockWhere(filter.inStock));
    return { AND: and };
  }

  /** Creates a product (audited as product.created); CONFLICT for a slug already taken. */
  async createProduct(viewer: Viewer | null, input: ProductInput): Promise<ProductRow> {
    const categoryId = categoryKey(input.categoryId);
    const data = {
      slug: validSlug(input.slug),
      name: validText(input.name, "name", 200),
      description: validText(input.description, "description", 5000, 0),
      priceCents: validCents(input.priceCents, "priceCents"),
      costCents: input.costCents == null ? null : validCents(input.costCents, "costCents"),
      currency: validCurrency(input.currency ?? "USD"),
      status: input.status ?? "ACTIVE",
    };
    await this.requireCategory(categoryId);
    try {
      // An event, so that cached listings (server/response-cache.ts) learn of the new product;
      // none for a draft or an archived one, which no shared answer can show.
      return await transactional(this.prisma, this.bus, async (tx, emit) => {
        const row = await tx.product.create({
          data: { ...data, category: { connect: { id: categoryId } }, ...this.stock.newProduct() },
        });
        if (row.status === "ACTIVE") emit(event("CATALOG_CHANGED", ALL, { productId: row.id }));
        await this.audit.record(tx, {
          action: "product.created",
          actor: viewer,
          target: toGlobalId("Product", row.id),
          details: { slug: row.slug, name: row.name, status: row.status, priceCents: row.priceCents, currency: row.currency, categoryId: toGlobalId("Category", categoryId) },
        });
        return row;
      });
    } catch (error) {
      if (error instanceof PrismaNS.PrismaClientKnownRequestError && error.code === "P2002") {
        throw conflict(`A product with slug "${data.slug}" already exists`);
      }
      throw error;
    }
  }

  /** Applies a patch (audited as product.updated, naming the fields it set); NOT_FOUND for an unknown id. */
  async updateProduct(viewer: Viewer | null, id: string, patch: ProductPatch): Promise<ProductRow> {
    const key = productKey(id);
    const data: PrismaNS.ProductUncheckedUpdateInput = {};
    if (patch.name != null) data.name = validText(patch.name, "patch.name", 200);
    if (patch.description != null) data.description = validText(patch.description, "patch.description", 5000, 0);
    if (patch.priceCents != null) data.priceCents = validCents(patch.priceCents, "patch.priceCents");
    if (patch.costCents !== undefined) data.costCents = patch.costCents === null ? null : validCents(patch.costCents, "patch.costCents");
    if (patch.status != null) data.status = patch.status;
    if (patch.categoryId != null) {
      data.categoryId = categoryKey(patch.categoryId, "patch.categoryId");
      await this.requireCategory(data.categoryId);
    }
    return transactional(this.prisma, this.bus, async (tx, emit) => {
      // Lock the row and read what subscribers see, so concurrent edits each compare with the other's result.
      // FOR NO KEY UPDATE: checkouts referencing the product (foreign keys) need not wait for the edit.
      const [before] = await tx.$queryRaw<Pick<ProductRow, "name" | "description" | "priceCents" | "status">[]>`
        SELECT name, description, price_cents AS "priceCents", status::text AS status
        FROM products WHERE id = ${key}::uuid FOR NO KEY UPDATE`;
      if (!before) throw notFound("Product");
      const after = await tx.product.update({ where: { id: key }, data });
      const visibleChange = (["name", "description", "priceCents", "status"] as const).some((f) => before[f] !== after[f]);
      // Anything else that changed (category, updatedAt) still changes what the catalog shows.
      emit(visibleChange ? event("PRODUCT_UPDATED", key, { productId: key }) : event("CATALOG_CHANGED", ALL, { productId: key }));
      await this.audit.record(tx, { action: "product.updated", actor: viewer, target: toGlobalId("Product", key), details: patchDetails(data) });
      if (after.priceCents < before.priceCents && after.status === "ACTIVE") {
        const price = formatMoney(after.priceCents, after.currency);
        await this.notifications.notify(tx, emit, "PRICE_DROPS", { cartHoldersOf: key }, {
          title: `Price drop: ${after.name}`,
          body: `${after.name}, in your cart, now costs ${price} (was ${formatMoney(before.priceCents, after.currency)}).`,
          data: { productId: toGlobalId("Product", key) },
        });
      }
      return after;
    });
  }

  /**
   * Creates a category at the end of the list (audited as category.created; CATALOG_CHANGED after
   * commit, so cached `categories` answers go stale). BAD_USER_INPUT for a bad slug or name,
   * CONFLICT for a slug already taken; nothing is written then.
   */
  async createCategory(viewer: Viewer | null, input: CategoryInput): Promise<CategoryRow> {
    const slug = validSlug(input.slug);
    const name = validText(input.name, "name", CATEGORY_NAME_MAX);
    return transactional(this.prisma, this.bus, async (tx, emit) => {
      const [last] = await tx.$queryRaw<{ next: number }[]>`SELECT coalesce(max(position) + 1, 0)::int AS next FROM categories`;
      // No exception inside the transaction for a taken slug: the insert is skipped instead.
      const [row] = await tx.category.createManyAndReturn({ data: [{ slug, name, position: last?.next ?? 0 }], skipDuplicates: true });
      if (!row) throw conflict(`A category with slug "${slug}" already exists`);
      emit(event("CATALOG_CHANGED", ALL, { categoryId: row.id }));
      await this.audit.record(tx, { action: "category.created", actor: viewer, target: toGlobalId("Category", row.id), details: { slug, name } });
      return row;
    });
  }

  /**
   * Renames a category or changes its slug (audited as category.updated with the values before
   * and after; CATALOG_CHANGED after commit). BAD_USER_INPUT for a bad id, slug or name or an
   * empty patch, NOT_FOUND for an unknown id, CONFLICT for a slug already taken.
   */
  async updateCategory(viewer: Viewer | null, id: string, patch: CategoryPatch): Promise<CategoryRow> {
    const key = categoryKey(id, "id");
    const data: { slug?: string; name?: string } = {};
    if (patch.slug != null) data.slug = validSlug(patch.slug);
    if (patch.name != null) data.name = validText(patch.name, "patch.name", CATEGORY_NAME_MAX);
    if (Object.keys(data).length === 0) throw badInput("patch must set slug or name", "patch");
    try {
      return await transactional(this.prisma, this.bus, async (tx, emit) => {
        const [before] = await tx.$queryRaw<Pick<CategoryRow, "slug" | "name">[]>`SELECT slug, name FROM categories WHERE id = ${key}::uuid FOR UPDATE`;
        if (!before) throw notFound("Category");
        const row = await tx.category.update({ where: { id: key }, data });
        emit(event("CATALOG_CHANGED", ALL, { categoryId: key }));
        const details: AuditDetails = {};
        for (const field of ["slug", "name"] as const) {
          if (data[field] !== undefined && data[field] !== before[field]) Object.assign(details, { [`${field}Before`]: before[field], [field]: row[field] });
        }
        await this.audit.record(tx, { action: "category.updated", actor: viewer, target: toGlobalId("Category", key), details });
        return row;
      });
    } catch (error) {
      if (error instanceof PrismaNS.PrismaClientKnownRequestError && error.code === "P2002") {
        throw conflict(`A category with slug "${data.slug}" already exists`);
      }
      throw error;
    }
  }

  private async requireCategory(id: string): Promise<void> {
    const found = await this.prisma.category.findUnique({ where: { id }, select: { id: true } });
    if (!found) throw badInput("categoryId does not name an existing category", "categoryId");
  }
}

/** What product.updated records: the fields set, with their new values (the description only by name: it may be long). */
function patchDetails(data: PrismaNS.ProductUncheckedUpdateInput): AuditDetails {
  const details: AuditDetails = { fields: Object.keys(data) };
  for (const field of ["name", "priceCents", "costCents", "status"] as const) {
    const value = data[field];
    if (value !== undefined) details[field] = value as string | number | null;
  }
  if (typeof data.categoryId === "string") details.categoryId = toGlobalId("Category", data.categoryId);
  return details;
}

function keysetWhere(column: SortColumn, direction: "asc" | "desc", [raw, id]: [string | number, string]): PrismaNS.ProductWhereInput {
  const value = column === "createdAt" ? new Date(raw) : raw;
  const op = direction === "asc" ? "gt" : "lt";
  return { OR: [{ [column]: { [op]: value } }, { [column]: value, id: { [op]: id } }] };
}

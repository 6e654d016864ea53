import type { Viewer } from "../../auth/roles.ts";
import { pageSize } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import type { ProductFilter, ProductOrder } from "./catalog.args.ts";
import { seesAllProducts } from "./catalog.loaders.ts";
import { SORT_COLUMN, keyset, validFilter } from "./catalog.paging.ts";
import { SelectionPlanner, type ConnectionPlan, type SelectionInfo } from "./catalog.selection.ts";
import { CatalogSql, type CompiledCategory, type CompiledProduct, type PageSpec } from "./catalog.sql.ts";

export interface ProductsQuery {
  first?: number | null;
  after?: string | null;
  filter?: ProductFilter | null;
  orderBy?: ProductOrder | null;
}

/** Runs one read-only statement (Database.read in the server; Prisma's raw query otherwise). */
export type Read = (text: string, values: readonly unknown[]) => Promise<unknown[]>;

/**
 * The catalog's hot reads, each ONE statement built from the GraphQL selection (catalog.selection.ts
 * plans it, catalog.sql.ts writes it): `products`, `product`, `node` on a product, `categories`, and
 * below them Product.category, Product.stock and Category.products, preloaded on the objects
 * returned. Visibility is the same rule as everywhere: drafts and archived products for staff only.
 */
export class CatalogReads {
  constructor(private readonly read: Read) {}

  async products(viewer: Viewer | null, input: ProductsQuery, info: SelectionInfo): Promise<ConnectionResult<CompiledProduct>> {
    const sql = new CatalogSql(seesAllProducts(viewer), categoryPage);
    const plan = new SelectionPlanner(info).connection();
    const spec = rootPage(input, sql);
    const built = sql.page(plan, spec, () => []);
    const [row] = await this.run(`SELECT ${built.sql} AS r`, sql.params.values);
    return built.decode(row);
  }

  /** One product by id or slug, or null when there is none the viewer may see. */
  async product(viewer: Viewer | null, by: { id: string } | { slug: string }, info: SelectionInfo): Promise<CompiledProduct | null> {
    const sql = new CatalogSql(seesAllProducts(viewer), categoryPage);
    const plan = new SelectionPlanner(info).product();
    const a = sql.alias("p");
    const built = sql.product(plan, a);
    const where = "id" in by ? `${a}.id = ${sql.params.add(by.id, "uuid")}` : `${a}.slug = ${sql.params.add(by.slug, "text")}`;
    const [row] = await this.run(`SELECT (SELECT ${built.sql} FROM products ${a}${built.joins} WHERE ${where} AND ${sql.visible(a)}) AS r`, sql.params.values);
    return row == null ? null : built.decode(row);
  }

  /** Every category (by position, then name), with what is selected below them. */
  async categories(viewer: Viewer | null, info: SelectionInfo): Promise<CompiledCategory[]> {
    const sql = new CatalogSql(seesAllProducts(viewer), categoryPage);
    const plan = new SelectionPlanner(info).category();
    const c = sql.alias("c");
    const built = sql.category(plan, c);
    const [row] = await this.run(
      `SELECT coalesce(json_agg(${built.sql} ORDER BY ${c}.position, ${c}.name, ${c}.id), '[]') AS r FROM categories ${c}`,
      sql.params.values,
    );
    return (row as unknown[]).map(built.decode);
  }

  private async run(text: string, values: unknown[]): Promise<unknown[]> {
    const rows = (await this.read(text, values)) as { r: unknown }[];
    return rows.map((r) => r.r);
  }
}

/** A category's products: by name, `first`/`after` as on every connection. */
function categoryPage(connection: ConnectionPlan): PageSpec {
  const limit = pageSize(connection.args.first as number | null | undefined);
  const after = keyset("name", connection.args.after as string | null | undefined);
  return { limit, sort: "name", descending: false, after, where: [], joins: [] };
}

/** The root `products` page: filters, ordering and keyset validated, as conditions on `{p}`. */
function rootPage(input: ProductsQuery, sql: CatalogSql): PageSpec {
  const limit = pageSize(input.first);
  const sort = SORT_COLUMN[input.orderBy?.field ?? "NAME"];
  const descending = input.orderBy?.direction === "DESC";
  const filter = validFilter(input.filter ?? {});
  const where: string[] = [];
  const joins: string[] = [];
  if (filter.categoryId !== undefined) where.push(`{p}.category_id = ${sql.params.add(filter.categoryId, "uuid")}`);
  if (filter.searchLiteral !== undefined) {
    const pattern = sql.params.add(`%${filter.searchLiteral}%`, "text");
    where.push(`({p}.name ILIKE ${pattern} OR {p}.description ILIKE ${pattern})`);
  }
  if (filter.minPriceCents !== undefined) where.push(`{p}.price_cents >= ${sql.params.add(filter.minPriceCents, "int")}`);
  if (filter.maxPriceCents !== undefined) where.push(`{p}.price_cents <= ${sql.params.add(filter.maxPriceCents, "int")}`);
  if (filter.inStock !== undefined) {
    joins.push("LEFT JOIN stock_levels {p}_s ON {p}_s.product_id = {p}.id");
    where.push(filter.inStock ? "{p}_s.on_hand > 0" : "({p}_s.on_hand IS NULL OR {p}_s.on_hand <= 0)");
  }
  return { limit, sort, descending, after: keyset(sort, input.after), where, joins };
}

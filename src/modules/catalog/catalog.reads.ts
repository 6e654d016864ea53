import type { Viewer } from "../../auth/roles.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { CatalogJson, type DirectOperation } from "./catalog.json.ts";
import { categoryPage, rootPage, type ProductsQuery } from "./catalog.pages.ts";
import { SelectionPlanner, type SelectionInfo } from "./catalog.selection.ts";
import { CatalogSql, type CompiledCategory, type CompiledProduct } from "./catalog.sql.ts";
import type { CatalogStock } from "./catalog.stock.ts";


/** Runs one read-only statement (Database.read in the server; Prisma's raw query otherwise). */
export type Read = (text: string, values: readonly unknown[]) => Promise<unknown[]>;

/**
 * The catalog's hot reads, each ONE statement built from the GraphQL selection (catalog.selection.ts
 * plans it, catalog.sql.ts writes it): `products`, `product`, `node` on a product, `categories`, and
 * below them Product.category, Product.stock and Category.products, preloaded on the objects
 * returned. Visibility is the same rule as everywhere: drafts and archived products for staff only.
 */
export type { ProductsQuery };

export class CatalogReads {
  constructor(
    private readonly read: Read,
    private readonly stock: CatalogStock,
  ) {}

  async products(viewer: Viewer | null, input: ProductsQuery, info: SelectionInfo): Promise<ConnectionResult<CompiledProduct>> {
    const sql = new CatalogSql(viewer, categoryPage, this.stock);
    const plan = new SelectionPlanner(info).connection();
    const spec = rootPage(input, sql);
    const built = sql.page(plan, spec, () => []);
    const [row] = await this.run(`SELECT ${built.sql} AS r`, sql.params.values);
    return built.decode(row);
  }

  /** One product by id or slug, or null when there is none the viewer may see. */
  async product(viewer: Viewer | null, by: { id: string } | { slug: string }, info: SelectionInfo): Promise<CompiledProduct | null> {
    const sql = new CatalogSql(viewer, categoryPage, this.stock);
    const plan = new SelectionPlanner(info).product();
    const a = sql.alias("p");
    const built = sql.product(plan, a);
    const where = "id" in by ? `${a}.id = ${sql.params.add(by.id, "uuid")}` : `${a}.slug = ${sql.params.add(by.slug, "text")}`;
    const [row] = await this.run(`SELECT (SELECT ${built.sql} FROM products ${a}${built.joins} WHERE ${where} AND ${sql.visible(a)}) AS r`, sql.params.values);
    return row == null ? null : built.decode(row);
  }

  /** Every category (by position, then name), with what is selected below them. */
  async categories(viewer: Viewer | null, info: SelectionInfo): Promise<CompiledCategory[]> {
    const sql = new CatalogSql(viewer, categoryPage, this.stock);
    const plan = new SelectionPlanner(info).category();
    const c = sql.alias("c");
    const built = sql.category(plan, c);
    const [row] = await this.run(
      `SELECT coalesce(json_agg(${built.sql} ORDER BY ${c}.position, ${c}.name, ${c}.id), '[]') AS r FROM categories ${c}`,
      sql.params.values,
    );
    return (row as unknown[]).map(built.decode);
  }

  /**
   * The text of `data` for an operation PostgreSQL renders whole (catalog.json.ts), or undefined
   * when the executor must answer it.
   */
  async json(viewer: Viewer | null, op: DirectOperation): Promise<string | undefined> {
    const statement = CatalogJson.build(op, viewer, this.stock);
    if (!statement) return undefined;
    const [text] = await this.run(statement.text, statement.values);
    return text as string;
  }

  private async run(text: string, values: unknown[]): Promise<unknown[]> {
    const rows = (await this.read(text, values)) as { r: unknown }[];
    return rows.map((r) => r.r);
  }
}


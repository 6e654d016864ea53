import { MAX_PAGE_SIZE, encodeCursor } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import type { Viewer } from "../../auth/roles.ts";
import type { SortColumn } from "./catalog.paging.ts";
import type { CategoryPlan, ConnectionPlan, ProductColumn, ProductPlan } from "./catalog.selection.ts";
import type { CategoryRow, ProductRow } from "./product.type.ts";
import type { CatalogStock } from "./catalog.stock.ts";
import { visibleProductsSql } from "./catalog.visibility.ts";

/**
 * Builds ONE SQL statement from a selection plan (catalog.selection.ts) and turns its answer into
 * the objects the resolvers return. PostgreSQL assembles the nested answer as JSON arrays (one per
 * object, fields in plan order), so a page of products with their categories and stock, or every
 * category with a page of its products, is one round trip:
 * - a page is a LIMIT (page size + 1) over the index of its ordering, numbered by row_number();
 *   the extra row only says there is a next page, and its relations are never read (FILTER);
 * - a category's products are a correlated subquery per category (the LATERAL of the plan),
 *   reading that category's page from the (category_id, name, id) index and nothing else;
 * - stock and a product's category are scalar subqueries by primary key, evaluated only for rows
 *   that are returned.
 * Every value is a bound parameter; identifiers come from the fixed tables below.
 */

export const PRODUCT_SQL: Record<ProductColumn, string> = {
  slug: "slug",
  name: "name",
  description: "description",
  priceCents: "price_cents",
  costCents: "cost_cents",
  currency: "currency",
  categoryId: "category_id",
  status: "status",
  createdAt: "created_at",
  updatedAt: "updated_at",
};
const CATEGORY_SQL = { slug: "slug", name: "name", position: "position" } as const;

/** Relations a compiled read preloads on the objects it returns, read by the field resolvers. */
export const PRELOADED = Symbol("catalog.preloaded");
export interface ProductPreload {
  category?: CompiledCategory | null;
  stock?: number;
}
export interface CategoryPreload {
  /** Category.products pages by preloadKey; an Error for arguments that were refused. */
  pages: Map<string, ConnectionResult<CompiledProduct> | Error>;
}
export type CompiledProduct = ProductRow & { [PRELOADED]?: ProductPreload };
export type CompiledCategory = CategoryRow & { [PRELOADED]?: CategoryPreload };


/** A page: ordering, visibility and keyset, already validated by the caller. */
export interface PageSpec {
  limit: number;
  sort: SortColumn;
  descending: boolean;
  /** Keyset: the sort value and id of the row the page starts after. */
  after: [string | number, string] | null;
  /** Extra conditions on `p` (filters), as SQL built with the same Params. */
  where: string[];
  /** Joins the conditions need (the stock filter). */
  joins: string[];
}

type Decode<T> = (value: unknown) => T;

/** Collects bound parameters: `add(value, "uuid")` returns `$n::uuid`. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
}

export class CatalogSql {
  private aliases = 0;
  readonly params = new Params();

  /**
   * @param viewer whose visibility rule applies (catalog.visibility.ts: drafts and archived
   *   products for staff only).
   * @param categoryPage how a Category.products connection's arguments become a page (it throws
   *   for arguments it refuses).
   * @param stock the inventory module's SQL for Product.stock and the inStock filter.
   */
  constructor(
    private readonly viewer: Viewer | null,
    private readonly categoryPage: (connection: ConnectionPlan) => PageSpec,
    readonly stock: CatalogStock,
  ) {}

  alias(prefix: string): string {
    this.aliases += 1;
    return `${prefix}${this.aliases}`;
  }

  visible(alias: string): string {
    return visibleProductsSql(this.viewer, alias);
  }

  /**
   * `json_build_array(...)` of one product row under `a`, how to decode it, and the joins the
   * caller adds where `a` is in scope (its category, joined so PostgreSQL reads each category once).
   */
  product(plan: ProductPlan, a: string): { sql: string; decode: Decode<CompiledProduct>; joins: string } {
    const parts = [`${a}.id`];
    const columns = [...plan.columns];
    for (const column of columns) parts.push(column === "status" ? `${a}.status::text` : `${a}.${PRODUCT_SQL[column]}`);
    if (plan.stock) parts.push(this.stock.onHandSql(`${a}.id`));
    let category: { decode: Decode<CompiledCategory> } | undefined;
    let joins = "";
    if (plan.category) {
      const c = this.alias("c");
      const built = this.category(plan.category, c);
      if (plan.category.connections.size === 0) {
        joins = ` JOIN categories ${c} ON ${c}.id = ${a}.category_id`;
        parts.push(built.sql);
      } else {
        parts.push(`(SELECT ${built.sql} FROM categories ${c} WHERE ${c}.id = ${a}.category_id)`);
      }
      category = built;
    }
    const stock = plan.stock;
    const decode: Decode<CompiledProduct> = (value) => {
      const array = value as unknown[];
      const row: Record<string | symbol, unknown> = { id: array[0] };
      let i = 1;
      for (const column of columns) {
        const v = array[i++];
        row[column] = column === "createdAt" || column === "updatedAt" ? new Date(v as string) : v;
      }
      const preload: ProductPreload = {};
      if (stock) preload.stock = (array[i++] as number | null) ?? 0;
      if (category) preload.category = array[i] == null ? null : category.decode(array[i++]);
      row[PRELOADED] = preload;
      return row as unknown as CompiledProduct;
    };
    return { sql: `json_build_array(${parts.join(", ")})`, decode, joins };
  }

  /** `json_build_array(...)` of one category row under `c`, its product pages included. */
  category(plan: CategoryPlan, c: string): { sql: string; decode: Decode<CompiledCategory> } {
    const parts = [`${c}.id`];
    const columns = [...plan.columns];
    for (const column of columns) parts.push(`${c}.${CATEGORY_SQL[column]}`);
    const pages: { key: string; decode: Decode<ConnectionResult<CompiledProduct>> }[] = [];
    const refused = new Map<string, Error>();
    for (const [key, connection] of plan.connections) {
      let spec: PageSpec;
      try {
        spec = this.categoryPage(connection);
      } catch (error) {
        // Bad arguments fail that field (where the general path fails it), not the whole read.
        refused.set(key, error as Error);
        continue;
      }
      const built = this.page(connection, spec, (p) => [`${p}.category_id = ${c}.id`]);
      parts.push(built.sql);
      pages.push({ key, decode: built.decode });
    }
    const decode: Decode<CompiledCategory> = (value) => {
      const array = value as unknown[];
      const row: Record<string | symbol, unknown> = { id: array[0] };
      let i = 1;
      for (const column of columns) row[column] = array[i++];
      const preload: CategoryPreload = { pages: new Map(refused) };
      for (const page of pages) preload.pages.set(page.key, page.decode(array[i++]));
      row[PRELOADED] = preload;
      return row as unknown as CompiledCategory;
    };
    return { sql: `json_build_array(${parts.join(", ")})`, decode };
  }

  /**
   * The rows of a page, numbered (`rn`) in its order: LIMIT page size + 1, the extra row only
   * saying there is a next page. `scope(p)` gives the conditions tying it to its parent.
   */
  pageRows(spec: PageSpec, scope: (p: string) => string[]): { inner: string; limit: string } {
    const p = this.alias("p");
    const sortSql = `${p}.${PRODUCT_SQL[spec.sort]}`;
    const direction = spec.descending ? "DESC" : "ASC";
    const order = `${sortSql} ${direction}, ${p}.id ${direction}`;
    const where = [...scope(p), this.visible(p), ...spec.where.map((w) => w.replaceAll("{p}", p))];
    if (spec.after) {
      const cast = spec.sort === "priceCents" ? "int" : spec.sort === "createdAt" ? "timestamptz" : "text";
      where.push(`(${sortSql}, ${p}.id) ${spec.descending ? "<" : ">"} (${this.params.add(spec.after[0], cast)}, ${this.params.add(spec.after[1], "uuid")})`);
    }
    const joins = spec.joins.map((j) => j.replaceAll("{p}", p)).join(" ");
    // The page size is a literal (pagination.ts allows 1 to 100; anything but a small integer is
    // refused here too), so a prepared statement's plan knows it: a generic plan guessing at a
    // parameter could sort the whole table instead.
    if (!Number.isInteger(spec.limit) || spec.limit < 1 || spec.limit > MAX_PAGE_SIZE) throw new Error(`page size ${spec.limit} out of range`);
    // ROWS: row_number() needs no look-ahead for peers, so the scan stops at the limit.
    const inner = `SELECT ${p}.*, row_number() OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING) AS rn FROM products ${p} ${joins} WHERE ${where.join(" AND ")} ORDER BY ${order} LIMIT ${spec.limit + 1}`;
    return { inner, limit: String(spec.limit) };
  }

  /** The conditions of `products p` that count a page's rows (totalCount), under alias `q`. */
  countSql(spec: PageSpec, scope: (q: string) => string[]): string {
    const q = this.alias("q");
    const countWhere = [...scope(q), this.visible(q), ...spec.where.map((w) => w.replaceAll("{p}", q))];
    return `(SELECT count(*)::int FROM products ${q} ${spec.joins.map((j) => j.replaceAll("{p}", q)).join(" ")} WHERE ${countWhere.join(" AND ")})`;
  }

  /**
   * A page of products as a scalar subquery: `json_build_array(hasNext, totalCount, rows)`.
   * `scope(p)` gives the conditions tying the page to its parent (none at the root).
   */
  page(plan: ConnectionPlan, spec: PageSpec, scope: (p: string) => string[]): { sql: string; decode: Decode<ConnectionResult<CompiledProduct>> } {
    const t = this.alias("t");
    const node = plan.node ?? { columns: new Set<ProductColumn>(), stock: false, category: null };
    // Built over `t`, the numbered page, which carries every column of `p`.
    const built = this.product(node, t);
    const { inner, limit } = this.pageRows(spec, scope);
    const cursor = plan.cursors ? `, ${t}.${PRODUCT_SQL[spec.sort]}` : "";
    // The page's rows, in order, as [product, sort value?] pairs; the extra row is only counted.
    const rows = `coalesce(json_agg(json_build_array(${built.sql}${cursor}) ORDER BY ${t}.rn) FILTER (WHERE ${t}.rn <= ${limit}), '[]')`;
    const count = plan.totalCount ? this.countSql(spec, scope) : "NULL";
    const sql = `(SELECT json_build_array(count(*) > ${limit}, ${count}, ${rows}) FROM (${inner}) ${t}${built.joins})`;
    const { sort } = spec;
    const cursors = plan.cursors;
    const decode: Decode<ConnectionResult<CompiledProduct>> = (value) => {
      const [hasNext, total, list] = value as [boolean, number | null, [unknown, unknown?][]];
      const edges = list.map(([row, key]) => {
        const node = built.decode(row);
        return { node, cursor: cursors ? encodeCursor([sort === "createdAt" ? new Date(key as string).toISOString() : (key as string | number), node.id]) : "" };
      });
      return {
        edges,
        pageInfo: {
          hasNextPage: hasNext,
          hasPreviousPage: false,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
        count: () => Promise.resolve(total ?? 0),
      };
    };
    return { sql, decode };
  }
}

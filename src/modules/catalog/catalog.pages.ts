import { pageSize } from "../../graphql/pagination.ts";
import type { ProductFilter, ProductOrder } from "./catalog.args.ts";
import { SORT_COLUMN, keyset, validFilter } from "./catalog.paging.ts";
import type { ConnectionPlan } from "./catalog.selection.ts";
import type { CatalogSql, PageSpec } from "./catalog.sql.ts";

/** The pages of the catalog's reads as SQL conditions (catalog.reads.ts, catalog.json.ts). */

export interface ProductsQuery {
  first?: number | null;
  after?: string | null;
  filter?: ProductFilter | null;
  orderBy?: ProductOrder | null;
}

/** A category's products: by name, `first`/`after` as on every connection. */
export function categoryPage(connection: ConnectionPlan): PageSpec {
  const limit = pageSize(connection.args.first as number | null | undefined);
  const after = keyset("name", connection.args.after as string | null | undefined);
  return { limit, sort: "name", descending: false, after, where: [], joins: [] };
}

/** The root `products` page: filters, ordering and keyset validated, as conditions on `{p}`. */
export function rootPage(input: ProductsQuery, sql: CatalogSql): PageSpec {
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
    const stock = sql.stock.inStockSql("{p}.id", "{p}_s", filter.inStock);
    joins.push(stock.join);
    where.push(stock.where);
  }
  return { limit, sort, descending, after: keyset(sort, input.after), where, joins };
}

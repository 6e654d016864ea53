import type { Prisma, Tx } from "../../db/client.ts";
import { Prisma as SQL } from "../../generated/prisma/client.ts";
import type { ProductStatus as ProductStatusValue } from "../../generated/prisma/enums.ts";
import type { ProductRow } from "./product.type.ts";

/**
 * Product facts for other modules (cart, inventory, orders), read in their transaction or
 * composed into their statement: products is this module's table, and these are the only ways
 * other modules read it (GraphQL fields read it through the catalog's loaders on the context).
 */
export interface ProductFacts {
  name: string;
  priceCents: number;
  currency: string;
  status: ProductStatusValue;
}

/**
 * A subquery of one row, the facts of the product whose id is the SQL expression `productId`
 * (no row for an unknown id), for a statement of another module that reads them with its own
 * rows in one snapshot (e.g. `CROSS JOIN LATERAL (${productFactsSql(sql`t.product_id`)}) p`).
 */
export const productFactsSql = (productId: SQL.Sql): SQL.Sql =>
  SQL.sql`SELECT name, price_cents AS "priceCents", currency, status::text AS status FROM products WHERE id = ${productId}`;

/** The facts of one product as `client` sees them, or null when there is none. */
export function productFacts(client: Tx | Prisma, id: string): Promise<ProductFacts | null> {
  return client.product.findUnique({ where: { id }, select: { name: true, priceCents: true, currency: true, status: true } });
}

/** The whole row of one product (any status: the caller decides what it shows), or null. */
export function findProduct(client: Tx | Prisma, id: string): Promise<ProductRow | null> {
  return client.product.findUnique({ where: { id } });
}

/** The currency of one of `productIds` priced in another currency than `currency` (trimmed), or null when none is. */
export async function otherCurrency(client: Tx | Prisma, productIds: readonly string[], currency: string): Promise<string | null> {
  const other = await client.product.findFirst({ where: { id: { in: [...productIds] }, currency: { not: currency } }, select: { currency: true } });
  return other ? other.currency.trim() : null;
}

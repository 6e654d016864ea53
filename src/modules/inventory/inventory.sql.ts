import type { Prisma, Tx } from "../../db/client.ts";
import { Prisma as SQL } from "../../generated/prisma/client.ts";
import type { CatalogStock } from "../catalog/index.ts";

/**
 * What other modules compose into their own statements when they need stock in the same round
 * trip and snapshot (a catalog page with its stock, checkout's cart with its stock). stock_levels
 * is this module's table: these are the only places outside inventory.*.ts that name it.
 */

/** Units on hand of the product whose id is the SQL expression `productId`, 0 without a stock row. */
export const onHandSql = (productId: SQL.Sql): SQL.Sql =>
  SQL.sql`coalesce((SELECT s.on_hand FROM stock_levels s WHERE s.product_id = ${productId}), 0)`;

/** On-hand units of a product as `client` sees them (0 without a stock row). */
export async function unitsOnHand(client: Tx | Prisma, productId: string): Promise<number> {
  return (await client.stockLevel.findUnique({ where: { productId }, select: { onHand: true } }))?.onHand ?? 0;
}

/** Stock for the catalog's reads and product creation (modules/index.ts hands it to CatalogService). */
export const catalogStock: CatalogStock = {
  onHandSql: (productId) => `(SELECT s.on_hand FROM stock_levels s WHERE s.product_id = ${productId})`,
  inStockSql: (productId, alias, inStock) => ({
    join: `LEFT JOIN stock_levels ${alias} ON ${alias}.product_id = ${productId}`,
    where: inStock ? `${alias}.on_hand > 0` : `(${alias}.on_hand IS NULL OR ${alias}.on_hand <= 0)`,
  }),
  inStockWhere: (inStock) => (inStock ? { stockLevel: { onHand: { gt: 0 } } } : { OR: [{ stockLevel: null }, { stockLevel: { onHand: { lte: 0 } } }] }),
  newProduct: () => ({ stockLevel: { create: { onHand: 0 } } }),
};

import type { Prisma as PrismaNS } from "../../generated/prisma/client.ts";

/**
 * What the catalog needs of stock, which the inventory module owns: its reads answer
 * Product.stock and the inStock filter in their one statement, and a new product starts with a
 * stock row. The inventory module provides it (its `catalogStock`, handed over by modules/index.ts),
 * so the catalog never names a stock table and does not import the module above it.
 */
export interface CatalogStock {
  /** SQL expression: on-hand units of the product whose id is the SQL expression `productId`; NULL without a stock row. */
  onHandSql(productId: string): string;
  /**
   * A join (of `alias`) and a condition that keep only the products whose id is `productId` that
   * are in stock (`inStock`) or not (no stock row counts as none).
   */
  inStockSql(productId: string, alias: string, inStock: boolean): { join: string; where: string };
  /** The same condition for the general (Prisma) reads. */
  inStockWhere(inStock: boolean): PrismaNS.ProductWhereInput;
  /** What a new product's create input adds so that it has its stock row (0 on hand), written with it. */
  newProduct(): Pick<PrismaNS.ProductCreateInput, "stockLevel">;
}

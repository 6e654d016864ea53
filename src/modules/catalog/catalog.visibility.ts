import type { Viewer } from "../../auth/roles.ts";
import { hasRole } from "../../auth/roles.ts";
import type { Prisma as PrismaNS } from "../../generated/prisma/client.ts";

/**
 * Who sees which products, decided here and only here: ACTIVE products for everyone, drafts and
 * archived ones for staff. Every read applies it in the form it needs (a row, a Prisma filter,
 * SQL), whether by id, slug, node, page, count or subscription event.
 */

/** Whether this viewer may see products that are not ACTIVE (drafts, archived). */
export const seesAllProducts = (viewer: Viewer | null): boolean => viewer !== null && hasRole(viewer.role, "STAFF");

/** Whether `viewer` may see this product. */
export function canSeeProduct(viewer: Viewer | null, product: { status: string }): boolean {
  return product.status === "ACTIVE" || seesAllProducts(viewer);
}

/** The products `viewer` may see, as a Prisma filter. */
export function visibleProductsWhere(viewer: Viewer | null): PrismaNS.ProductWhereInput {
  return seesAllProducts(viewer) ? {} : { status: "ACTIVE" };
}

/** The products `viewer` may see, as an SQL condition on the products row under `alias`. */
export function visibleProductsSql(viewer: Viewer | null, alias: string): string {
  return seesAllProducts(viewer) ? "TRUE" : `${alias}.status = 'ACTIVE'`;
}

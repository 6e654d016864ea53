import { badInput } from "../../graphql/errors.ts";
import { decodeCursor } from "../../graphql/pagination.ts";
import { isUuid } from "../../lib/ids.ts";
import type { ProductFilter, ProductOrder } from "./catalog.args.ts";
import { categoryKey, validCents } from "./catalog.validation.ts";

/**
 * What a products page's arguments mean, validated once for both read paths: the one statement
 * (catalog.reads.ts) and the loaders' path (catalog.service.ts, CATALOG_READS=general).
 */
export type SortColumn = "name" | "priceCents" | "createdAt";
export const SORT_COLUMN: Record<ProductOrder["field"], SortColumn> = { NAME: "name", PRICE: "priceCents", CREATED_AT: "createdAt" };
export const MAX_SEARCH = 100;

export interface ValidFilter {
  categoryId?: string;
  /** The search text for LIKE, %, _ and \ escaped so they match themselves (to be put within %…%). */
  searchLiteral?: string;
  minPriceCents?: number;
  maxPriceCents?: number;
  inStock?: boolean;
}

/** `filter` validated (BAD_USER_INPUT naming the argument otherwise). */
export function validFilter(filter: ProductFilter): ValidFilter {
  const valid: ValidFilter = {};
  if (filter.categoryId != null) valid.categoryId = categoryKey(filter.categoryId, "filter.categoryId");
  if (filter.search != null) {
    const search = filter.search.trim();
    if (search.length > MAX_SEARCH) throw badInput(`search must be at most ${MAX_SEARCH} characters`, "filter.search");
    if (search) valid.searchLiteral = search.replace(/[\\%_]/g, (c) => `\\${c}`);
  }
  if (filter.minPriceCents != null) valid.minPriceCents = validCents(filter.minPriceCents, "filter.minPriceCents");
  if (filter.maxPriceCents != null) valid.maxPriceCents = validCents(filter.maxPriceCents, "filter.maxPriceCents");
  if (valid.minPriceCents !== undefined && valid.maxPriceCents !== undefined && valid.minPriceCents > valid.maxPriceCents) {
    throw badInput("filter.minPriceCents must not exceed filter.maxPriceCents", "filter.minPriceCents");
  }
  if (filter.inStock != null) valid.inStock = filter.inStock;
  return valid;
}

const badCursor = () => badInput("after is not a cursor returned by this connection", "after");

/** The keyset of `after` for a page sorted by `sort` (createdAt as ISO); anything else is BAD_USER_INPUT. */
export function keyset(sort: SortColumn, after: string | null | undefined): [string | number, string] | null {
  const cursor = decodeCursor(after, 2);
  if (!cursor) return null;
  const [raw, id] = cursor;
  if (!isUuid(id)) throw badCursor();
  if (sort === "priceCents") {
    if (typeof raw !== "number" || !Number.isInteger(raw) || Math.abs(raw) > 2_147_483_647) throw badCursor();
    return [raw, id as string];
  }
  if (sort === "createdAt") {
    // As JavaScript reads it (ISO), not as sent: PostgreSQL parses dates differently.
    const at = typeof raw === "string" ? new Date(raw) : undefined;
    if (!at || Number.isNaN(at.getTime())) throw badCursor();
    return [at.toISOString(), id as string];
  }
  if (typeof raw !== "string") throw badCursor();
  return [raw, id as string];
}

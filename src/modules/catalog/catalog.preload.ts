import type { ConnectionResult } from "../../graphql/types.ts";
import { preloadKey } from "./catalog.selection.ts";
import { PRELOADED, type CompiledCategory, type CompiledProduct } from "./catalog.sql.ts";
import type { CategoryRow, ProductRow } from "./product.type.ts";

/**
 * What a compiled catalog read (catalog.reads.ts) already fetched for an object it returned; the
 * field resolvers use it and fall back to their loaders when it is absent (undefined).
 */
export function preloadedCategory(product: ProductRow): CategoryRow | null | undefined {
  return (product as CompiledProduct)[PRELOADED]?.category;
}

export function preloadedStock(product: ProductRow): number | undefined {
  return (product as CompiledProduct)[PRELOADED]?.stock;
}

export function preloadedPage(category: CategoryRow, responseKey: string, args: { first?: unknown; after?: unknown }): ConnectionResult<ProductRow> | undefined {
  const page = (category as CompiledCategory)[PRELOADED]?.pages.get(preloadKey(responseKey, args));
  if (page instanceof Error) throw page;
  return page;
}

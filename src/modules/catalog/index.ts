export { CatalogService } from "./catalog.service.ts";
export { createCatalogLoaders, type CatalogLoaders } from "./catalog.loaders.ts";
export { canSeeProduct, seesAllProducts } from "./catalog.visibility.ts";
export { findProduct, otherCurrency, productFacts, productFactsSql, type ProductFacts } from "./catalog.facts.ts";
export type { CatalogStock } from "./catalog.stock.ts";
export { productKey } from "./catalog.validation.ts";
export { Category, Product, type CategoryRow, type ProductRow } from "./product.type.ts";
import { CategoryResolver } from "./category.resolver.ts";
import { ProductResolver } from "./product.resolver.ts";

export const catalogResolvers = [ProductResolver, CategoryResolver] as const;
export { catalogNodeFetchers } from "./catalog.nodes.ts";
export { preloadedStock } from "./catalog.preload.ts";
export { catalogPlainResolvers } from "./catalog.fields.ts";
export { categoryProducts } from "./category.resolver.ts";

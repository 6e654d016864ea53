export { CatalogService } from "./catalog.service.ts";
export { createCatalogLoaders, seesAllProducts, type CatalogLoaders } from "./catalog.loaders.ts";
export { productKey } from "./catalog.validation.ts";
export { Category, Product, type CategoryRow, type ProductRow } from "./product.type.ts";
import { CategoryResolver } from "./category.resolver.ts";
import { ProductResolver } from "./product.resolver.ts";

export const catalogResolvers = [ProductResolver, CategoryResolver] as const;
export { preloadedStock } from "./catalog.preload.ts";
export { catalogPlainResolvers } from "./catalog.fields.ts";
export { categoryProducts } from "./category.resolver.ts";

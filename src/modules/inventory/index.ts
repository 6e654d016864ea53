export { InventoryService, type Movement } from "./inventory.service.ts";
export { createInventoryLoaders, type InventoryLoaders } from "./inventory.loaders.ts";
export { catalogStock, onHandSql, unitsOnHand } from "./inventory.sql.ts";
import { ProductStockResolver, StockUpdateResolver } from "./inventory.resolver.ts";

export const inventoryResolvers = [ProductStockResolver, StockUpdateResolver] as const;
export { inventoryPlainResolvers } from "./inventory.resolver.ts";

import DataLoader from "dataloader";
import type { Prisma } from "../../db/client.ts";

export function createInventoryLoaders(prisma: Prisma) {
  return {
    /** Units on hand per product id (0 when no stock row exists). */
    stockByProductId: new DataLoader<string, number>(async (ids) => {
      const rows = await prisma.stockLevel.findMany({ where: { productId: { in: [...ids] } } });
      const byId = new Map(rows.map((r) => [r.productId, r.onHand]));
      return ids.map((id) => byId.get(id) ?? 0);
    }),
  };
}

export type InventoryLoaders = ReturnType<typeof createInventoryLoaders>;

import DataLoader from "dataloader";
import type { Prisma } from "../../db/client.ts";
import type { OrderItemRow, OrderRow } from "./order.type.ts";

export const ORDER_ROW = {
  id: true,
  number: true,
  userId: true,
  status: true,
  version: true,
  totalCents: true,
  currency: true,
  createdAt: true,
  updatedAt: true,
} as const;

export interface UserOrdersKey {
  userId: string;
  /** Rows to fetch (page size + 1). */
  take: number;
  /** Keyset position [createdAt ISO, id] of the previous page's last order, newest first. */
  after: [string, string] | null;
}

export function createOrderLoaders(prisma: Prisma) {
  return {
    /** Any order by id: callers check the viewer may read it. */
    orderById: new DataLoader<string, OrderRow | null>(async (ids) => {
      const rows = await prisma.order.findMany({ where: { id: { in: [...ids] } }, select: ORDER_ROW });
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /** The lines of every order in the batch, in one statement. */
    itemsByOrderId: new DataLoader<string, OrderItemRow[]>(async (ids) => {
      const rows = await prisma.orderItem.findMany({
        where: { orderId: { in: [...ids] } },
        orderBy: [{ productName: "asc" }, { id: "asc" }],
      });
      return ids.map((id) => rows.filter((r) => r.orderId === id));
    }),
    /** Order count per user, one GROUP BY for the batch. */
    orderCountByUser: new DataLoader<string, number>(async (ids) => {
      const groups = await prisma.order.groupBy({ by: ["userId"], where: { userId: { in: [...ids] } }, _count: { _all: true } });
      const counts = new Map(groups.map((g) => [g.userId, g._count._all]));
      return ids.map((id) => counts.get(id) ?? 0);
    }),
    /** One page of each user's orders (newest first) for every user in the batch: a window function limits per user. */
    userOrdersPage: new DataLoader<UserOrdersKey, OrderRow[], string>(
      async (keys) => {
        const result = new Map<string, OrderRow[]>();
        const groups = new Map<string, UserOrdersKey[]>();
        for (const key of keys) {
          const group = JSON.stringify([key.take, key.after]);
          groups.set(group, [...(groups.get(group) ?? []), key]);
        }
        for (const group of groups.values()) {
          const { take, after } = group[0]!;
          const rows = await prisma.$queryRaw<OrderRow[]>`
            SELECT id, number, "userId", status, "totalCents", currency, "createdAt", "updatedAt" FROM (
              SELECT o.id, o.number, o.user_id AS "userId", o.status::text AS status, o.total_cents AS "totalCents",
                     o.currency, o.created_at AS "createdAt", o.updated_at AS "updatedAt",
                     row_number() OVER (PARTITION BY o.user_id ORDER BY o.created_at DESC, o.id DESC) AS rn
              FROM orders o
              WHERE o.user_id = ANY(${group.map((k) => k.userId)}::uuid[])
                AND (${after === null} OR (o.created_at, o.id) < (${after?.[0] ?? "1970-01-01T00:00:00Z"}::timestamptz, ${after?.[1] ?? "00000000-0000-0000-0000-000000000000"}::uuid))
            ) t WHERE t.rn <= ${take} ORDER BY t."userId", t.rn`;
          for (const key of group) result.set(JSON.stringify(key), rows.filter((r) => r.userId === key.userId));
        }
        return keys.map((k) => result.get(JSON.stringify(k)) ?? []);
      },
      { cacheKeyFn: (key) => JSON.stringify(key) },
    ),
  };
}

export type OrderLoaders = ReturnType<typeof createOrderLoaders>;

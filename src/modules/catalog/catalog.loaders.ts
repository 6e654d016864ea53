import DataLoader from "dataloader";
import type { Viewer } from "../../auth/roles.ts";
import type { Prisma } from "../../db/client.ts";
import { Prisma as SQL } from "../../generated/prisma/client.ts";
import type { CategoryRow, ProductRow } from "./product.type.ts";
import { visibleProductsSql, visibleProductsWhere } from "./catalog.visibility.ts";

export interface CategoryPageKey {
  categoryId: string;
  /** Rows to fetch (page size + 1). */
  take: number;
  after: [string, string] | null;
}

const PRODUCT_COLUMNS = SQL.sql`p.id, p.slug, p.name, p.description, p.price_cents AS "priceCents",
  p.cost_cents AS "costCents", p.currency, p.category_id AS "categoryId", p.status::text AS status,
  p.created_at AS "createdAt", p.updated_at AS "updatedAt"`;

function byKey<K, V>(keys: readonly K[], rows: V[], keyOfRow: (row: V) => K): (V | null)[] {
  const map = new Map(rows.map((r) => [keyOfRow(r), r]));
  return keys.map((k) => map.get(k) ?? null);
}

export function createCatalogLoaders(prisma: Prisma, viewer: Viewer | null) {
  const visible = visibleProductsWhere(viewer);
  return {
    /** Any product by id, whatever its status: callers decide visibility. */
    productById: new DataLoader<string, ProductRow | null>(async (ids) =>
      byKey(ids, await prisma.product.findMany({ where: { id: { in: [...ids] } } }), (r) => r.id),
    ),
    categoryById: new DataLoader<string, CategoryRow | null>(async (ids) =>
      byKey(ids, await prisma.category.findMany({ where: { id: { in: [...ids] } } }), (r) => r.id),
    ),
    /** Visible product count per category, one GROUP BY for all categories asked about. */
    productCountByCategory: new DataLoader<string, number>(async (ids) => {
      const groups = await prisma.product.groupBy({
        by: ["categoryId"],
        where: { categoryId: { in: [...ids] }, ...visible },
        _count: { _all: true },
      });
      const counts = new Map(groups.map((g) => [g.categoryId, g._count._all]));
      return ids.map((id) => counts.get(id) ?? 0);
    }),
    /**
     * One page of each category's products (by name), for every category in the batch in one
     * statement: a window function applies the limit per category.
     */
    categoryPage: new DataLoader<CategoryPageKey, ProductRow[], string>(
      async (keys) => {
        const groups = new Map<string, CategoryPageKey[]>();
        for (const key of keys) {
          const group = JSON.stringify([key.take, key.after]);
          groups.set(group, [...(groups.get(group) ?? []), key]);
        }
        const rowsByKey = new Map<string, ProductRow[]>();
        for (const group of groups.values()) {
          const { take, after } = group[0]!;
          const ids = group.map((k) => k.categoryId);
          const rows = await prisma.$queryRaw<(ProductRow & { rn: bigint })[]>`
            SELECT * FROM (
              SELECT ${PRODUCT_COLUMNS}, row_number() OVER (PARTITION BY p.category_id ORDER BY p.name, p.id) AS rn
              FROM products p
              WHERE p.category_id = ANY(${ids}::uuid[])
                AND ${SQL.raw(visibleProductsSql(viewer, "p"))}
                AND (${after === null} OR (p.name, p.id) > (${after?.[0] ?? ""}, ${after?.[1] ?? "00000000-0000-0000-0000-000000000000"}::uuid))
            ) t WHERE t.rn <= ${take} ORDER BY t."categoryId", t.rn`;
          for (const key of group) {
            rowsByKey.set(JSON.stringify(key), rows.filter((r) => r.categoryId === key.categoryId));
          }
        }
        return keys.map((k) => rowsByKey.get(JSON.stringify(k)) ?? []);
      },
      { cacheKeyFn: (key) => JSON.stringify(key) },
    ),
  };
}

export type CatalogLoaders = ReturnType<typeof createCatalogLoaders>;

import DataLoader from "dataloader";
import type { Prisma } from "../../db/client.ts";
import type { UserRow } from "./user.type.ts";

export function createIdentityLoaders(prisma: Prisma) {
  return {
    userById: new DataLoader<string, UserRow | null>(async (ids) => {
      const rows = await prisma.user.findMany({
        where: { id: { in: [...ids] } },
        select: { id: true, email: true, name: true, role: true, createdAt: true },
      });
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type IdentityLoaders = ReturnType<typeof createIdentityLoaders>;

import DataLoader from "dataloader";
import type { Prisma } from "../../db/client.ts";
import type { AuditRow } from "./audit.type.ts";

export function createAuditLoaders(prisma: Prisma) {
  return {
    /** Any audit row by id: callers check the viewer is ADMIN (node.resolver.ts). */
    auditEventById: new DataLoader<string, AuditRow | null>(async (ids) => {
      const rows = await prisma.auditEvent.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type AuditLoaders = ReturnType<typeof createAuditLoaders>;

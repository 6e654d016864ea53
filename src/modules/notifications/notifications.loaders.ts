import DataLoader from "dataloader";
import type { Prisma } from "../../db/client.ts";
import type { NotificationRow } from "./notification.type.ts";

export function createNotificationLoaders(prisma: Prisma) {
  return {
    /** Any notification by id: callers check it belongs to the viewer. */
    notificationById: new DataLoader<string, NotificationRow | null>(async (ids) => {
      const rows = await prisma.notification.findMany({
        where: { id: { in: [...ids] } },
        select: { id: true, userId: true, category: true, title: true, body: true, readAt: true, createdAt: true },
      });
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type NotificationLoaders = ReturnType<typeof createNotificationLoaders>;

import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { event, type Event } from "../../events/topics.ts";
import type { Prisma as PrismaNS } from "../../generated/prisma/client.ts";
import { badInput, notFound } from "../../graphql/errors.ts";
import { decodeTimeCursor, pageSize, timeCursor, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { keyOf } from "../../lib/ids.ts";
import type { NotificationCategoryValue, NotificationRow } from "./notification.type.ts";

/**
 * Whether a category is on for a user who never changed it. Transactional categories are on,
 * marketing is opt-in. A NotificationPreference row exists only where a user chose otherwise.
 */
export const DEFAULT_PREFERENCES: Readonly<Record<NotificationCategoryValue, boolean>> = {
  ORDER_UPDATES: true,
  BACK_IN_STOCK: true,
  PRICE_DROPS: true,
  PROMOTIONS: false,
};
const CATEGORIES = Object.keys(DEFAULT_PREFERENCES) as NotificationCategoryValue[];

/** Who should hear of something: named users, or everyone with a product in their cart. */
export type Audience = { userIds: readonly string[] } | { cartHoldersOf: string };

export interface Message {
  title: string;
  body: string;
  /** Ids the notification is about (order, product), for clients that link to them. */
  data?: Record<string, string>;
}

const ROW = { id: true, userId: true, category: true, title: true, body: true, readAt: true, createdAt: true } as const;

/**
 * Notifications are written inside the transaction of the change that causes them (so they exist
 * exactly when the change does) and pushed to `notificationReceived` after its commit.
 */
export class NotificationsService {
  constructor(private readonly prisma: Prisma) {}

  /** Writes one notification per audience member who has `category` enabled; returns how many. */
  async notify(tx: Tx, emit: (e: Event) => void, category: NotificationCategoryValue, audience: Audience, message: Message): Promise<number> {
    const who: PrismaNS.UserWhereInput =
      "userIds" in audience ? { id: { in: [...audience.userIds] } } : { cart: { items: { some: { productId: audience.cartHoldersOf } } } };
    const enabled: PrismaNS.UserWhereInput = DEFAULT_PREFERENCES[category]
      ? { preferences: { none: { category, enabled: false } } }
      : { preferences: { some: { category, enabled: true } } };
    const users = await tx.user.findMany({ where: { AND: [who, enabled] }, select: { id: true } });
    if (users.length === 0) return 0;
    const rows = await tx.notification.createManyAndReturn({
      data: users.map((u) => ({ userId: u.id, category, title: message.title, body: message.body, data: message.data ?? {} })),
      select: { id: true, userId: true },
    });
    for (const row of rows) emit(event("NOTIFICATION_RECEIVED", row.userId, { notificationId: row.id, userId: row.userId }));
    return rows.length;
  }

  async list(
    viewer: Viewer,
    input: { first?: number | null; after?: string | null; unreadOnly?: boolean | null },
  ): Promise<ConnectionResult<NotificationRow>> {
    const limit = pageSize(input.first);
    const where: PrismaNS.NotificationWhereInput = { userId: viewer.userId, ...(input.unreadOnly ? { readAt: null } : {}) };
    const cursor = decodeTimeCursor(input.after);
    const keyset: PrismaNS.NotificationWhereInput | null = cursor && {
      OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }],
    };
    const rows = await this.prisma.notification.findMany({
      where: keyset ? { AND: [where, keyset] } : where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: limit + 1,
      select: ROW,
    });
    return toConnection(rows, limit, timeCursor, () => this.prisma.notification.count({ where }));
  }

  /** Marks the viewer's own notification read (keeps the first read time). Anyone else's: NOT_FOUND. */
  async markRead(viewer: Viewer, id: string): Promise<NotificationRow> {
    const key = keyOf(id, "Notification");
    if (!key) throw badInput("id is not a Notification id", "id");
    await this.prisma.notification.updateMany({ where: { id: key, userId: viewer.userId, readAt: null }, data: { readAt: new Date() } });
    const row = await this.prisma.notification.findFirst({ where: { id: key, userId: viewer.userId }, select: ROW });
    if (!row) throw notFound("Notification");
    return row;
  }

  async preferences(viewer: Viewer): Promise<{ category: NotificationCategoryValue; enabled: boolean }[]> {
    const rows = await this.prisma.notificationPreference.findMany({ where: { userId: viewer.userId } });
    const chosen = new Map(rows.map((r) => [r.category, r.enabled]));
    return CATEGORIES.map((category) => ({ category, enabled: chosen.get(category) ?? DEFAULT_PREFERENCES[category] }));
  }

  async setPreference(viewer: Viewer, category: NotificationCategoryValue, enabled: boolean) {
    await this.prisma.notificationPreference.upsert({
      where: { userId_category: { userId: viewer.userId, category } },
      create: { userId: viewer.userId, category, enabled },
      update: { enabled },
    });
    return { category, enabled };
  }
}

import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { event, type Event } from "../../events/topics.ts";
import { Prisma as PrismaNS } from "../../generated/prisma/client.ts";
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

/** A notification a write returned: enough for its NOTIFICATION_RECEIVED event. */
export interface Notified {
  id: string;
  userId: string;
}

/** A message whose title and body are SQL expressions (they may read the caller's CTEs, such as a new order's number). */
export interface SqlMessage {
  title: PrismaNS.Sql;
  body: PrismaNS.Sql;
  data?: Record<string, string>;
}

/**
 * The audiences other modules know: who holds a product in their cart is the cart module's to
 * say (its `cartHoldersSql`, handed over by modules/index.ts), as a query of one column of user ids.
 */
export interface Audiences {
  cartHoldersOf(productId: string): PrismaNS.Sql;
}

const ROW = { id: true, userId: true, category: true, title: true, body: true, readAt: true, createdAt: true } as const;

/**
 * Notifications are written inside the transaction of the change that causes them (so they exist
 * exactly when the change does) and pushed to `notificationReceived` after its commit.
 */
export class NotificationsService {
  constructor(
    private readonly prisma: Prisma,
    private readonly audiences: Audiences,
  ) {}

  /** The user ids of `audience`, as a query of one column (named users need no table: notifications refer to them). */
  private audienceQuery(audience: Audience): PrismaNS.Sql {
    return "userIds" in audience ? PrismaNS.sql`SELECT unnest(${[...audience.userIds]}::uuid[])` : this.audiences.cartHoldersOf(audience.cartHoldersOf);
  }

  /** Writes one notification per audience member who has `category` enabled (one statement); returns how many. */
  async notify(tx: Tx, emit: (e: Event) => void, category: NotificationCategoryValue, audience: Audience, message: Message): Promise<number> {
    const rows = await tx.$queryRaw<Notified[]>(
      this.insert(category, this.audienceQuery(audience), { title: PrismaNS.sql`${message.title}`, body: PrismaNS.sql`${message.body}`, data: message.data }),
    );
    this.emitReceived(emit, rows);
    return rows.length;
  }

  /**
   * The write behind `notify` as one SQL statement: `INSERT … SELECT` of `message` for every user id
   * that `audience` (a query of one column) yields and who has `category` enabled (no preference row
   * saying otherwise, or one saying so for opt-in categories), `RETURNING id, "userId"`. A caller may
   * use it as a data-modifying CTE of its own statement so the notification costs no round trip;
   * it then emits the rows with `emitReceived`.
   */
  insert(category: NotificationCategoryValue, audience: PrismaNS.Sql, message: SqlMessage): PrismaNS.Sql {
    const choice = PrismaNS.sql`SELECT 1 FROM notification_preferences p WHERE p.user_id = a.id AND p.category = ${category}::"NotificationCategory"`;
    const enabled = DEFAULT_PREFERENCES[category] ? PrismaNS.sql`NOT EXISTS (${choice} AND NOT p.enabled)` : PrismaNS.sql`EXISTS (${choice} AND p.enabled)`;
    return PrismaNS.sql`
      INSERT INTO notifications (user_id, category, title, body, data)
      SELECT a.id, ${category}::"NotificationCategory", ${message.title}, ${message.body}, ${JSON.stringify(message.data ?? {})}::jsonb
      FROM (${audience}) AS a(id)
      WHERE ${enabled}
      RETURNING id, user_id AS "userId"`;
  }

  /** Emits NOTIFICATION_RECEIVED for each written notification (published after commit). */
  emitReceived(emit: (e: Event) => void, rows: readonly Notified[]): void {
    for (const row of rows) emit(event("NOTIFICATION_RECEIVED", row.userId, { notificationId: row.id, userId: row.userId }));
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

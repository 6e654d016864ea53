import type { Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { badInput } from "../../graphql/errors.ts";
import { decodeCursor, pageSize, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { isUuid } from "../../lib/ids.ts";
import type { AuditRow } from "./audit.type.ts";

/** Every action the log records (README "Admin and audit log" says when each is written). */
export type AuditAction =
  | "auth.logIn"
  | "auth.logInFailed"
  | "user.created"
  | "user.roleChanged"
  | "session.revoked"
  | "session.revokedAll"
  | "partner.keyUsed"
  | "partner.keyRefused"
  | "product.created"
  | "product.updated"
  | "stock.adjusted"
  | "category.created"
  | "category.updated";

/** JSON the details column holds: flat facts about the change, never a password, token or key. */
export type AuditDetails = Record<string, string | number | boolean | null | readonly string[]>;

export interface AuditEntry {
  action: AuditAction;
  /** Who did it; null for the system (CLIs, refresh-token reuse detection) and anonymous callers. */
  actor: Viewer | string | null;
  target?: string | null;
  details?: AuditDetails;
}

/**
 * The security audit log. `record` writes into the caller's transaction, so a row exists exactly
 * when the change it describes was committed; nothing here opens its own transaction except
 * `recordAlone`, for events that change nothing (a failed log-in, a partner request).
 */
export class AuditLog {
  constructor(private readonly prisma: Prisma) {}

  /** Writes one row in `tx` (one INSERT). Throws what the database throws: the change rolls back with it. */
  async record(tx: Tx, entry: AuditEntry): Promise<void> {
    await tx.auditEvent.create({ data: rowOf(entry) });
  }

  /** Writes one row on its own, for an event with no transaction of its own (rejects on a database failure). */
  async recordAlone(entry: AuditEntry): Promise<void> {
    await this.prisma.auditEvent.create({ data: rowOf(entry) });
  }

  /** Newest first, cursor paginated (first 1..100, default 20). ADMIN only, enforced by the schema. */
  async list(input: { first?: number | null; after?: string | null }): Promise<ConnectionResult<AuditRow>> {
    const limit = pageSize(input.first);
    const after = seqCursor(input.after);
    const rows = await this.prisma.auditEvent.findMany({
      where: after === null ? {} : { seq: { lt: after } },
      orderBy: { seq: "desc" },
      take: limit + 1,
    });
    return toConnection(rows, limit, (row) => [row.seq.toString()], () => this.prisma.auditEvent.count());
  }
}

function rowOf(entry: AuditEntry) {
  const actorId = typeof entry.actor === "string" ? entry.actor : entry.actor?.userId;
  return {
    action: entry.action,
    // Shared viewers and seeding carry no real user id: such changes are the system's.
    actorId: isUuid(actorId) ? actorId : null,
    target: entry.target ?? null,
    ...(entry.details ? { details: entry.details as Record<string, unknown> as never } : {}),
  };
}

function seqCursor(after: string | null | undefined): bigint | null {
  const cursor = decodeCursor(after, 1);
  if (!cursor) return null;
  const [seq] = cursor;
  if (typeof seq !== "string" || !/^\d{1,19}$/.test(seq)) throw badInput("after is not a cursor returned by this connection", "after");
  return BigInt(seq);
}

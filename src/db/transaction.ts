import type { Event } from "../events/topics.ts";
import type { EventBus } from "../events/bus.ts";
import type { Prisma, Tx } from "./client.ts";

/**
 * How long a transaction may wait for a connection and run. Prisma's defaults (2 s / 5 s) are
 * tight when many checkouts queue on one stock row; beyond these the transaction is rolled back.
 */
const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 20_000 };

/**
 * Runs `fn` in one database transaction and publishes the events it emitted only after the
 * commit: subscribers never hear of a change that was rolled back. The caller gets its result
 * without waiting for the publish.
 */
export async function transactional<T>(
  prisma: Prisma,
  bus: EventBus,
  fn: (tx: Tx, emit: (event: Event) => void) => Promise<T>,
): Promise<T> {
  const pending: Event[] = [];
  const result = await prisma.$transaction((tx) => fn(tx, (event) => pending.push(event)), TRANSACTION_OPTIONS);
  // Not awaited: the answer does not wait on Redis (publish never throws; a failure is logged).
  // Events of one instance still leave in commit order: one connection sends them in order.
  void bus.publish(pending);
  return result;
}

/** Whether `error` is a unique-constraint violation (Prisma P2002). */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "P2002";
}

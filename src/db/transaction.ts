import type { Event } from "../events/topics.ts";
import type { EventBus } from "../events/bus.ts";
import type { Envelope } from "../events/outbox.ts";
import type { Prisma, Tx } from "./client.ts";

/**
 * How long a transaction may wait for a connection and run. Prisma's defaults (2 s / 5 s) are
 * tight when many checkouts queue on one stock row; beyond these the transaction is rolled back.
 */
const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 20_000 };

/**
 * Runs `fn` in one database transaction. The events it emits are written to the outbox as the
 * transaction's last statement (one statement, whatever their number), so they exist exactly when
 * the change does; after the commit they are published at once. The caller gets its result
 * without waiting on Redis: events the publish misses are delivered by the relay and catch-up.
 */
export async function transactional<T>(
  prisma: Prisma,
  bus: EventBus,
  fn: (tx: Tx, emit: (event: Event) => void) => Promise<T>,
): Promise<T> {
  let written: Envelope[] = [];
  const result = await prisma.$transaction(async (tx) => {
    const pending: Event[] = [];
    const value = await fn(tx, (event) => pending.push(event));
    written = await bus.write(tx, pending);
    return value;
  }, TRANSACTION_OPTIONS);
  // Test hook: a process killed here has committed its events but not published them.
  await afterCommit?.();
  bus.committed(written);
  return result;
}

let afterCommit: (() => Promise<void>) | undefined;

/**
 * Test hook (set by app.ts only when CARTWHEEL_TEST_CRASH_AFTER_COMMIT=1): `afterCommit` runs
 * between the commit and the publish; test/e2e/outbox.test.ts kills the process there.
 */
export function setTransactionHooks(hooks: { afterCommit?: () => Promise<void> }): void {
  afterCommit = hooks.afterCommit;
}

/** Whether `error` is a unique-constraint violation (Prisma P2002). */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "P2002";
}

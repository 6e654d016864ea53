import type { Event } from "../events/topics.ts";
import type { EventBus } from "../events/bus.ts";
import type { Prisma, Tx } from "./client.ts";

/**
 * Runs `fn` in one database transaction and publishes the events it emitted only after the
 * commit: subscribers never hear of a change that was rolled back.
 */
export async function transactional<T>(
  prisma: Prisma,
  bus: EventBus,
  fn: (tx: Tx, emit: (event: Event) => void) => Promise<T>,
): Promise<T> {
  const pending: Event[] = [];
  const result = await prisma.$transaction((tx) => fn(tx, (event) => pending.push(event)));
  await bus.publish(pending);
  return result;
}

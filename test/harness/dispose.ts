// What the harness starts (servers, databases, sockets, clients) is registered here and disposed
// automatically: after the test that started it (its beforeEach/afterEach hooks included), or
// after the file when it was started outside a test (a beforeAll, a describe body). A failing or
// forgetful test cannot leak a server into the next one. Disposal runs in reverse order of
// registration (a server stops before its database is dropped) and every disposer runs once,
// also when the test already disposed the thing itself.
import { afterAll, afterEach, beforeEach } from "vitest";

type Disposer = () => unknown;

const fileScope: Disposer[] = [];
let testScope: Disposer[] | undefined;

/** Runs `dispose` after the current test, or after the file outside a test. Returns it, made idempotent. */
export function disposeLater<T extends Disposer>(dispose: T): () => ReturnType<T> {
  let result: { value: ReturnType<T> } | undefined;
  const once = () => (result ??= { value: dispose() as ReturnType<T> }).value;
  (testScope ?? fileScope).push(once);
  return once;
}

/** Disposes the list, last first; every one runs, the first failure is thrown after them all. */
async function drain(list: Disposer[]): Promise<void> {
  const failures: unknown[] = [];
  while (list.length > 0) {
    try {
      await list.pop()!();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

// Registered when a test file first imports the harness: on that file's root suite.
beforeEach(() => {
  testScope = [];
});
afterEach(async () => {
  const list = testScope ?? [];
  testScope = undefined;
  await drain(list);
});
afterAll(() => drain(fileScope));

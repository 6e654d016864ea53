/** Returned by a `transform` function to drop a value (the subscriber is not told of it). */
export const SKIP: unique symbol = Symbol("skip");

/**
 * Maps (and with SKIP, filters) an async iterator. Unlike an async generator, `return()` reaches
 * the source at once even while a `next()` is pending, so an unsubscribed client releases its
 * pub/sub subscription immediately rather than at the next event that may never come.
 */
export function transform<T, U>(
  source: AsyncIterable<T> | AsyncIterator<T>,
  fn: (value: T) => U | typeof SKIP | Promise<U | typeof SKIP>,
): AsyncIterableIterator<U> {
  const iterator: AsyncIterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as AsyncIterator<T>);
  let finished = false;
  // The source's return() is not awaited: the consumer never waits on a source's clean-up.
  const finish = () => {
    if (finished) return;
    finished = true;
    Promise.resolve(iterator.return?.()).catch(() => {});
  };
  const result: AsyncIterableIterator<U> = {
    async next(): Promise<IteratorResult<U>> {
      while (!finished) {
        const item = await iterator.next();
        if (item.done) {
          finished = true;
          return { done: true, value: undefined };
        }
        const value = await fn(item.value);
        if (value !== SKIP) return { done: false, value };
      }
      return { done: true, value: undefined };
    },
    async return(): Promise<IteratorResult<U>> {
      finish();
      return { done: true, value: undefined };
    },
    async throw(error?: unknown): Promise<IteratorResult<U>> {
      finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return result;
    },
  };
  return result;
}

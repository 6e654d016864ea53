/**
 * The one list of what a starting or started app must close. Each start-up step adds what it
 * opened, as soon as it is open; `dispose` closes it all in the reverse order, so what was
 * opened last (the listeners) goes first and what everything used (the database) goes last.
 */
export class Disposals {
  readonly #closes: (() => Promise<void> | void)[] = [];
  #disposing: Promise<void> | undefined;

  /** Registers `close`: it runs before everything registered earlier. */
  add(close: () => Promise<void> | void): void {
    this.#closes.push(close);
  }

  /**
   * Runs every registered close, the last registered first, each once, also when an earlier one
   * failed (a drain past SHUTDOWN_TIMEOUT still closes Redis and the database). Rejects with the
   * first failure once everything has run. Safe to call twice: the second call waits for the first.
   */
  dispose(): Promise<void> {
    return (this.#disposing ??= this.#run());
  }

  async #run(): Promise<void> {
    let failure: { error: unknown } | undefined;
    for (let close = this.#closes.pop(); close; close = this.#closes.pop()) {
      try {
        await close();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}

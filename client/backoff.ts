/** How subscriptions get their connection back after it drops. */
export interface ReconnectOptions {
  /** Failed attempts in a row before giving up (the iterators end with CONNECTION_CLOSED). Default: Infinity. */
  attempts?: number;
  /** The delay before the first attempt; it doubles with each failed one, up to `maxDelayMs`. Each delay is 50–100 % of that (jitter). Default 500 ms. */
  initialDelayMs?: number;
  /** Default 30 000 ms. */
  maxDelayMs?: number;
}

/**
 * Exponential backoff with jitter: 50–100 % of min(max, initial * 2^retries). `cancel()` ends
 * every wait at once (on dispose, so no timer holds the process and no reconnection is attempted).
 */
export function backoff(options: ReconnectOptions = {}) {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const waiting = new Map<NodeJS.Timeout, () => void>();
  return {
    wait: (retries: number) =>
      new Promise<void>((resolve) => {
        const ceiling = Math.min(max, initial * 2 ** Math.min(retries, 30));
        const timer = setTimeout(() => (waiting.delete(timer), resolve()), ceiling * (0.5 + Math.random() / 2));
        waiting.set(timer, resolve);
      }),
    cancel() {
      for (const [timer, resolve] of waiting) {
        clearTimeout(timer);
        resolve();
      }
      waiting.clear();
    },
  };
}

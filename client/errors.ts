export interface ClientError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/**
 * The request failed or returned errors; `code` is the first error's code: a contract code from
 * the server (`extensions.code`), or one of the client's own for a subscription's transport:
 *
 * - `UNAUTHENTICATED` also when the server closed the WebSocket with 4403 (the token is bad,
 *   expired or revoked; over SSE the server answers 401 or ends the stream with that code):
 *   refresh or sign in, then subscribe again (with `after`).
 * - `CONNECTION_CLOSED`: the connection ended and the client did not reopen it (a close code
 *   that retrying cannot help, e.g. 4008 "too slow", in `extensions.closeCode`, or the retries
 *   ran out): subscribe again, with `after` set to the subscription's last `cursor`.
 */
export class CartwheelError extends Error {
  constructor(
    readonly errors: ClientError[],
    readonly status: number,
  ) {
    super(errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; "));
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

/** A CartwheelError of the client's own (no HTTP status). */
export function clientError(code: string, message: string, extensions: Record<string, unknown> = {}): CartwheelError {
  return new CartwheelError([{ message, extensions: { code, ...extensions } }], 0);
}

/** One connection's worth of raw SQL; `exec` runs a multi-statement script without parameters. */
export interface SqlConnection {
  query(text: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  exec(text: string): Promise<void>;
}

export interface SqlRunner {
  query(text: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs `fn` on one dedicated connection (session-level advisory locks need that). */
  withConnection<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T>;
}

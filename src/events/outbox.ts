import type { Tx } from "../db/client.ts";
import type { SqlRunner } from "../db/sql-runner.ts";
import type { Event, TopicName, TopicPayloads } from "./topics.ts";

/** An event as the outbox holds it: at its position, contiguous and in commit order. */
export interface Envelope<K extends TopicName = TopicName> {
  position: number;
  topic: K;
  id: string;
  payload: TopicPayloads[K];
}

export interface OutboxHead {
  /** Names this database's stream (a uuid). */
  stream: string;
  /** The last position handed out (committed: a reader sees every row up to it). */
  position: number;
  /** Rows at or below this were pruned: a cursor below it has expired. */
  prunedThrough: number;
}

// Takes the next positions and writes the rows in one statement. Updating outbox_head locks its
// row until commit, so positions are handed out in commit order and without gaps (a rolled-back
// transaction gives its positions back). It is the last statement of the transaction: the lock is
// held only for it and the commit.
const APPEND = `
WITH head AS (UPDATE outbox_head SET position = position + $1 WHERE id = 1 RETURNING position)
INSERT INTO outbox_events (position, topic, scope_id, payload)
SELECT head.position - $1 + e.ord, e.value->>'topic', e.value->>'id', e.value->'payload'
FROM head, jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, ord)
RETURNING position::float8 AS position`;

/** At most this many rows per read (replay and catch-up page through). */
export const PAGE = 500;

/**
 * The outbox table: appends inside a transaction (one statement), and reads for replay, catch-up
 * and the relay. Reads and maintenance go through `sql` (raw, outside any transaction).
 */
export class OutboxStore {
  constructor(private readonly sql: SqlRunner) {}

  /** Writes `events` in `tx` (one statement) and returns them at their positions, in order. */
  async append(tx: Tx, events: readonly Event[]): Promise<Envelope[]> {
    if (events.length === 0) return [];
    const rows = await tx.$queryRawUnsafe<{ position: number }[]>(
      APPEND,
      events.length,
      JSON.stringify(events.map((e) => ({ topic: e.topic, id: e.id, payload: e.payload }))),
    );
    const first = Math.min(...rows.map((r) => Number(r.position)));
    return events.map((e, i) => ({ position: first + i, topic: e.topic, id: e.id, payload: e.payload }) as Envelope);
  }

  async head(): Promise<OutboxHead> {
    const [row] = await this.sql.query("SELECT stream::text AS stream, position::float8 AS position, pruned_through::float8 AS pruned FROM outbox_head WHERE id = 1");
    if (!row) throw new Error("outbox_head has no row: migrations not applied");
    return { stream: row.stream as string, position: Number(row.position), prunedThrough: Number(row.pruned) };
  }

  /** Every event after `after`, oldest first, at most PAGE. */
  async range(after: number): Promise<Envelope[]> {
    const rows = await this.sql.query(
      `SELECT position::float8 AS position, topic, scope_id, payload FROM outbox_events
       WHERE position > $1 ORDER BY position LIMIT ${PAGE}`,
      [after],
    );
    return rows.map(envelope);
  }

  /** The events of `topic` scoped by one of `ids` with `after < position < before`, oldest first, at most PAGE. */
  async replay(topic: TopicName, ids: readonly string[], after: number, before: number): Promise<Envelope[]> {
    const rows = await this.sql.query(
      `SELECT position::float8 AS position, topic, scope_id, payload FROM outbox_events
       WHERE topic = $1 AND scope_id = ANY($2::text[]) AND position > $3 AND position < $4 ORDER BY position LIMIT ${PAGE}`,
      [topic, [...ids], after, before],
    );
    return rows.map(envelope);
  }

  /** The events at these positions that are older than `olderThanMs` (the relay's orphans), oldest first. */
  async orphans(positions: readonly number[], olderThanMs: number): Promise<Envelope[]> {
    if (positions.length === 0) return [];
    const rows = await this.sql.query(
      `SELECT position::float8 AS position, topic, scope_id, payload FROM outbox_events
       WHERE position = ANY($1::bigint[]) AND created_at < now() - make_interval(secs => $2::float8 / 1000) ORDER BY position`,
      [[...positions], olderThanMs],
    );
    return rows.map(envelope);
  }

  /**
   * Takes or renews the relay lease for `owner` (for `leaseMs`) when it is free, expired or
   * already `owner`'s; returns whether `owner` holds it, and the head either way (one statement).
   */
  async lease(owner: string, leaseMs: number): Promise<{ leader: boolean; head: number }> {
    // Written only to take the lease or once half of it has run (not on every call), so an idle
    // (embedded) server does not write several times a second.
    const [row] = await this.sql.query(
      `WITH taken AS (
         UPDATE outbox_relay SET owner = $1, lease_until = now() + make_interval(secs => $2::float8 / 1000)
         WHERE id = 1 AND (owner IS NULL OR lease_until < now() OR (owner = $1 AND lease_until < now() + make_interval(secs => $2::float8 / 2000)))
         RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM taken) OR EXISTS (SELECT 1 FROM outbox_relay WHERE id = 1 AND owner = $1 AND lease_until >= now()) AS leader,
              (SELECT position::float8 FROM outbox_head WHERE id = 1) AS head`,
      [owner, leaseMs],
    );
    return { leader: row?.leader === true, head: Number(row?.head ?? 0) };
  }

  /** Gives the lease up (shutdown), so another instance takes over at once. */
  async release(owner: string): Promise<void> {
    await this.sql.query("UPDATE outbox_relay SET owner = NULL WHERE id = 1 AND owner = $1", [owner]);
  }

  /**
   * Deletes events created before `before` (at most `limit`, oldest first; the newest row is always
   * kept) and records how far it went. Returns how many went.
   */
  async prune(before: Date, limit = 10_000): Promise<number> {
    const [row] = await this.sql.query(
      `WITH cut AS (
         SELECT max(position) AS p FROM (
           SELECT position FROM outbox_events WHERE created_at < $1 AND position < (SELECT position FROM outbox_head WHERE id = 1)
           ORDER BY position LIMIT $2) old),
       gone AS (DELETE FROM outbox_events WHERE position <= (SELECT p FROM cut) RETURNING 1),
       moved AS (UPDATE outbox_head SET pruned_through = GREATEST(pruned_through, (SELECT p FROM cut))
                 WHERE id = 1 AND (SELECT p FROM cut) IS NOT NULL RETURNING 1)
       SELECT (SELECT count(*) FROM gone)::int AS gone, (SELECT count(*) FROM moved)::int AS moved`,
      [before, limit],
    );
    return Number(row?.gone ?? 0);
  }
}

function envelope(row: Record<string, unknown>): Envelope {
  const payload = typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload;
  return { position: Number(row.position), topic: row.topic as TopicName, id: row.scope_id as string, payload } as Envelope;
}

const CURSOR_VERSION = "o1";

/**
 * The opaque cursor of an outbox position (what clients pass back as `after` or Last-Event-ID):
 * the position and the first 8 characters of the stream's id, so that a cursor of another
 * database is recognised as foreign.
 */
export function encodeCursor(stream: string, position: number): string {
  return Buffer.from(`${CURSOR_VERSION}:${stream.slice(0, 8)}:${position}`).toString("base64url");
}

/** What a cursor says; undefined when it is not one of ours. */
export function decodeCursor(cursor: string): { stream: string; position: number } | undefined {
  if (cursor.length > 64 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  const match = /^o1:([0-9a-f]{8}):(0|[1-9]\d{0,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) return undefined;
  const position = Number(match[2]);
  return Number.isSafeInteger(position) ? { stream: match[1]!, position } : undefined;
}

import { isUuid } from "../lib/ids.ts";
import { badInput } from "./errors.ts";
import type { ConnectionResult } from "./types.ts";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Validates `first` (1..100, default 20); anything else is BAD_USER_INPUT. */
export function pageSize(first: number | null | undefined): number {
  if (first === undefined || first === null) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}`, "first");
  }
  return first;
}

/** Opaque keyset cursor: the sort key values of a row, last of them its id. */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | null | undefined, arity: number): (string | number)[] | null {
  if (cursor === undefined || cursor === null) return null;
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(values) &&
      values.length === arity &&
      values.every((v) => typeof v === "string" || typeof v === "number")
    ) {
      return values as (string | number)[];
    }
  } catch {
    // fall through
  }
  throw badInput("after is not a cursor returned by this connection", "after");
}

/**
 * Builds a connection from `limit + 1` fetched rows (the extra one only says there is a next page).
 * Cursors are encoded when read (edge `cursor`, `pageInfo.startCursor`/`endCursor`), each once: a
 * query that selects none of them pays nothing for them.
 */
export function toConnection<T>(
  rows: readonly T[],
  limit: number,
  cursorOf: (row: T) => readonly (string | number)[],
  count: () => Promise<number>,
): ConnectionResult<T> {
  const edges = rows.slice(0, limit).map((node) => new Edge(node, cursorOf));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > limit,
      get endCursor() {
        return edges.at(-1)?.cursor ?? null;
      },
      // Forward-only paging: the spec's rule for first/after allows false (see PageInfo).
      hasPreviousPage: false,
      get startCursor() {
        return edges[0]?.cursor ?? null;
      },
    },
    count,
  };
}

/** An edge whose cursor is encoded on first read (a getter on the prototype: no closure per edge). */
class Edge<T> {
  private encoded: string | undefined;

  constructor(
    readonly node: T,
    private readonly cursorOf: (row: T) => readonly (string | number)[],
  ) {}

  get cursor(): string {
    return (this.encoded ??= encodeCursor(this.cursorOf(this.node)));
  }
}

/** Decodes a cursor of a connection ordered by (createdAt, id); anything else is BAD_USER_INPUT. */
export function decodeTimeCursor(after: string | null | undefined): { createdAt: Date; id: string } | null {
  const cursor = decodeCursor(after, 2);
  if (!cursor) return null;
  const [at, id] = cursor;
  const createdAt = new Date(String(at));
  if (typeof at !== "string" || Number.isNaN(createdAt.getTime()) || !isUuid(id)) {
    throw badInput("after is not a cursor returned by this connection", "after");
  }
  return { createdAt, id };
}

/** The cursor values of a row in a (createdAt, id) ordered connection. */
export function timeCursor(row: { createdAt: Date; id: string }): [string, string] {
  return [row.createdAt.toISOString(), row.id];
}

import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/events/outbox.ts";
import { decodeCursor as decodeKeyset, encodeCursor as encodeKeyset, toConnection } from "../../src/graphql/pagination.ts";

describe("resume cursors", () => {
  const stream = "3f2a9c1e-0000-4000-8000-000000000000";

  it("round-trip a position with the stream's id, opaque and URL-safe", () => {
    for (const position of [0, 1, 42, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      const cursor = encodeCursor(stream, position);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(cursor)).toEqual({ stream: "3f2a9c1e", position });
    }
  });

  it("refuse what is not one of ours: other text, other versions, leading zeros, unsafe numbers, overlong input", () => {
    const b64 = (text: string) => Buffer.from(text).toString("base64url");
    for (const cursor of ["", "nonsense", b64("o2:3f2a9c1e:1"), b64("o1:3f2a9c1e:01"), b64("o1:3f2a9c1e:-1"), b64("o1:3F2A9C1E:1"), b64("o1:3f2a9c1e:99999999999999999"), "a".repeat(65), "a+b/"]) {
      expect(decodeCursor(cursor)).toBeUndefined();
    }
  });
});

describe("connection cursors (graphql/pagination.ts)", () => {
  const rows = [{ id: "a", n: 1 }, { id: "b", n: 2 }, { id: "c", n: 3 }];

  it("are encoded only when read, each once, with the values they always had", () => {
    const encoded: string[] = [];
    const connection = toConnection(rows, 2, (row) => (encoded.push(row.id), [row.n, row.id]), async () => 3);
    expect(connection.edges.map((e) => e.node.id)).toEqual(["a", "b"]);
    expect(connection.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expect(encoded).toEqual([]);
    expect(connection.pageInfo.endCursor).toBe(encodeKeyset([2, "b"]));
    expect(connection.edges.map((e) => e.cursor)).toEqual([encodeKeyset([1, "a"]), encodeKeyset([2, "b"])]);
    expect(connection.pageInfo.startCursor).toBe(encodeKeyset([1, "a"]));
    expect(decodeKeyset(connection.edges[1]!.cursor, 2)).toEqual([2, "b"]);
    expect(encoded).toEqual(["b", "a"]);
  });

  it("an empty page has null start and end cursors", () => {
    const connection = toConnection([], 20, () => [], async () => 0);
    expect(connection.pageInfo).toMatchObject({ hasNextPage: false, startCursor: null, endCursor: null });
  });
});

import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/events/outbox.ts";

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

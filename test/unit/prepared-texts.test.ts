import { describe, expect, it } from "vitest";
import { PreparedTexts } from "../../src/db/client.ts";

describe("PreparedTexts: which catalog reads run as named statements", () => {
  it("names a text from its second sighting, with the same name every time", () => {
    const texts = new PreparedTexts(2);
    expect(texts.nameOf("SELECT 1")).toBeUndefined();
    const name = texts.nameOf("SELECT 1");
    expect(name).toMatch(/^cw_[0-9a-f]{32}$/);
    expect(texts.nameOf("SELECT 1")).toBe(name);
    expect(texts.nameOf("SELECT 2")).toBeUndefined();
    const second = texts.nameOf("SELECT 2");
    expect(second).toMatch(/^cw_[0-9a-f]{32}$/);
    expect(second).not.toBe(name);
  });

  it("admits at most `max` texts, for good: later ones stay unnamed, admitted ones keep their name", () => {
    const texts = new PreparedTexts(1);
    texts.nameOf("a");
    const a = texts.nameOf("a");
    texts.nameOf("b");
    expect(texts.nameOf("b")).toBeUndefined();
    expect(texts.nameOf("a")).toBe(a);
  });

  it("names nothing when prepared statements are off (DATABASE_PREPARED_STATEMENTS=false)", () => {
    const texts = new PreparedTexts(0);
    texts.nameOf("a");
    expect(texts.nameOf("a")).toBeUndefined();
  });
});

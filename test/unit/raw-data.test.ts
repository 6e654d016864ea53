import { describe, expect, it } from "vitest";
import { dataText, rawData, stringifyResult } from "../../src/server/raw-data.ts";

// Raw JSON text as a result's `data` (src/server/raw-data.ts): sent as it is, and the same text
// JSON.stringify gives for the parsed value, whatever else the result holds.
describe("stringifyResult with raw data", () => {
  const json = `{"products":{"edges":[{"node":{"id":"UHJvZHVjdDox","name":"Caf\\u00e9 \\"noir\\""}}]}}`;
  const parsed = JSON.parse(json) as Record<string, unknown>;

  it("writes the text untouched, as JSON.stringify writes the parsed value", () => {
    expect(stringifyResult({ data: rawData(json) })).toBe(`{"data":${json}}`);
    expect(stringifyResult({ data: rawData(JSON.stringify(parsed)) })).toBe(JSON.stringify({ data: parsed }));
  });

  it("keeps errors first and extensions last, as Apollo orders a result", () => {
    const errors = [{ message: "x", path: ["products"], extensions: { code: "BAD_USER_INPUT" } }];
    const extensions = { requestId: "r-1" };
    const text = stringifyResult({ errors, data: rawData(JSON.stringify(parsed)), extensions });
    expect(text).toBe(JSON.stringify({ errors, data: parsed, extensions }));
  });

  it("leaves other results to JSON.stringify, and raw data serializes to its value anywhere else", () => {
    expect(stringifyResult({ data: parsed })).toBe(JSON.stringify({ data: parsed }));
    expect(JSON.stringify({ nested: rawData(json) })).toBe(JSON.stringify({ nested: parsed }));
    expect(dataText(rawData(json))).toBe(json);
    expect(dataText(parsed)).toBe(JSON.stringify(parsed));
  });
});

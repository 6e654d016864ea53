import type { FormattedExecutionResult } from "graphql";

/**
 * The `data` of a result that is already JSON text (a catalog query PostgreSQL answered whole, a
 * response-cache entry): stringifyResult sends the text as it is, without parsing or serializing.
 * Anything else that serializes it still gets the same JSON (toJSON), only slower.
 */
export class RawData {
  constructor(readonly json: string) {}

  toJSON(): unknown {
    return JSON.parse(this.json);
  }
}

/** `data` of a result as JSON text. */
export function dataText(data: unknown): string {
  return data instanceof RawData ? data.json : JSON.stringify(data);
}

/**
 * A result as Apollo sends it (compact: Apollo's default indents every response), raw data
 * included: the same text JSON.stringify would give, keys in Apollo's order (errors, data, extensions).
 */
export function stringifyResult(value: FormattedExecutionResult): string {
  const { data } = value as { data?: unknown };
  if (!(data instanceof RawData)) return JSON.stringify(value);
  let text = "{";
  if (value.errors !== undefined) text += `"errors":${JSON.stringify(value.errors)},`;
  text += `"data":${data.json}`;
  if (value.extensions !== undefined) text += `,"extensions":${JSON.stringify(value.extensions)}`;
  return `${text}}`;
}

/** Raw JSON text as a result's `data` (Apollo's types want an object there). */
export function rawData(json: string): Record<string, unknown> {
  return new RawData(json) as unknown as Record<string, unknown>;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses `900`, `900s`, `15m`, `12h` or `30d` into seconds; returns undefined when malformed. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (UNITS[match[2] || "s"] ?? 1);
  return value > 0 && Number.isSafeInteger(value) ? value : undefined;
}

const MS_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses `0`, `500ms`, `5`, `5s`, `2m` (a bare number is seconds, as in parseDurationSeconds)
 * into milliseconds, zero allowed; returns undefined when malformed.
 */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (MS_UNITS[match[2] ?? "s"] ?? 1_000);
  return Number.isSafeInteger(value) ? value : undefined;
}

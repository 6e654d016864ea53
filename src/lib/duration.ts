const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses `900`, `900s`, `15m`, `12h` or `30d` into seconds; returns undefined when malformed. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (UNITS[match[2] || "s"] ?? 1);
  return value > 0 && Number.isSafeInteger(value) ? value : undefined;
}

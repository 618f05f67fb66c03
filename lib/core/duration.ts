/**
 * Durations that read as durations in a policy: "30s", "1m", "15m", "1h", "1d" (or "500ms").
 * @example msOf("15m") // 900_000
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export type DurationUnit = keyof typeof UNIT_MS;
export type Duration = `${number}${DurationUnit}`;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds in `duration`; throws at start-up for one the type let through but is not a positive length ("0m"). */
export function msOf(duration: Duration): number {
  const match = DURATION.exec(duration);
  const ms = match === null ? Number.NaN : Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  if (!(ms > 0) || !Number.isSafeInteger(ms))
    throw new Error(`"${duration}" is not a duration such as "30s", "15m" or "1h"`);
  return ms;
}

/** Five-field cron expressions (minute hour day-of-month month day-of-week), as Vercel and Deno.cron read them. */
const FIELD_RANGES = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
] as const;

export interface CronExpression {
  readonly source: string;
  matches(date: Date): boolean;
}

function parseField(field: string, [min, max]: readonly [number, number]): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(",")) {
    const match = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (match === null) throw new Error(`invalid cron field "${field}"`);
    const [, start, end, step] = match;
    const from = start === "*" ? min : Number(start);
    const to = start === "*" ? max : end === undefined ? (step === undefined ? from : max) : Number(end);
    const by = step === undefined ? 1 : Number(step);
    if (from < min || to > max || from > to || by < 1)
      throw new Error(`cron field "${field}" is out of range ${min}-${max}`);
    for (let v = from; v <= to; v += by) values.add(v);
  }
  return values;
}

export function parseCronExpression(source: string): CronExpression {
  const fields = source.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron expression "${source}" must have five fields`);
  const [minutes, hours, days, months, weekdays] = fields.map((f, i) => parseField(f, FIELD_RANGES[i] ?? [0, 0]));
  const daysRestricted = fields[2] !== "*";
  const weekdaysRestricted = fields[4] !== "*";
  return {
    source,
    matches(date) {
      if (
        !minutes?.has(date.getUTCMinutes()) ||
        !hours?.has(date.getUTCHours()) ||
        !months?.has(date.getUTCMonth() + 1)
      )
        return false;
      const dayMatch = days?.has(date.getUTCDate()) ?? false;
      const weekdayMatch = weekdays?.has(date.getUTCDay()) ?? false;
      // Standard cron: when both day fields are restricted, either one matching is enough.
      if (daysRestricted && weekdaysRestricted) return dayMatch || weekdayMatch;
      return dayMatch && weekdayMatch;
    },
  };
}

/** Deletes rolled-up metrics past their retention: minutes after 48 h, hours after 35 days, days after 400. */
import { lt } from "drizzle-orm";
import { metricsDay, metricsHour, metricsMinute, metricsSeriesMinute } from "../../db/schema/index.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const METRICS_RETENTION_MS = { minute: 48 * HOUR_MS, hour: 35 * DAY_MS, day: 400 * DAY_MS } as const;

export const pruneMetrics: ScheduledJob = {
  name: "prune-metrics",
  schedule: "29 * * * *",
  async run(runtime) {
    const db = runtime.db.primary;
    const now = runtime.now();
    const before = (ms: number) => new Date(now - ms);
    const deleted = await Promise.all([
      db
        .delete(metricsMinute)
        .where(lt(metricsMinute.start, before(METRICS_RETENTION_MS.minute)))
        .returning(),
      db
        .delete(metricsSeriesMinute)
        .where(lt(metricsSeriesMinute.start, before(METRICS_RETENTION_MS.minute)))
        .returning(),
      db
        .delete(metricsHour)
        .where(lt(metricsHour.start, before(METRICS_RETENTION_MS.hour)))
        .returning(),
      db
        .delete(metricsDay)
        .where(lt(metricsDay.start, before(METRICS_RETENTION_MS.day)))
        .returning(),
    ]);
    const [minutes, series, hours, days] = deleted.map((rows) => rows.length);
    return `deleted ${minutes} minute, ${series} series, ${hours} hour and ${days} day rows`;
  },
};

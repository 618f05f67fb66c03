/**
 * Rolled-up request metrics (lib/metrics/route-minute.ts is the row): per minute, hour and day, per route
 * template, method and status class; bucket counts per LATENCY_BUCKET_BOUNDS_MS, not cumulative.
 */
import { bigint, doublePrecision, integer, pgTable, primaryKey, smallint, text, timestamp } from "drizzle-orm/pg-core";

function routeMetricsTable<N extends string>(name: N) {
  return pgTable(
    name,
    {
      start: timestamp("start", { withTimezone: true }).notNull(),
      route: text("route").notNull(),
      method: text("method").notNull(),
      statusClass: smallint("status_class").notNull(),
      count: bigint("count", { mode: "number" }).notNull(),
      sumMs: doublePrecision("sum_ms").notNull(),
      buckets: bigint("buckets", { mode: "number" }).array().notNull(),
    },
    (t) => [primaryKey({ columns: [t.start, t.route, t.method, t.statusClass] })],
  );
}

export const metricsMinute = routeMetricsTable("metrics_minute");
export const metricsHour = routeMetricsTable("metrics_hour");
export const metricsDay = routeMetricsTable("metrics_day");

/** Dependency timings, rate-limit decisions, breaker changes and webhook deliveries, per minute. */
export const metricsSeriesMinute = pgTable(
  "metrics_series_minute",
  {
    start: timestamp("start", { withTimezone: true }).notNull(),
    name: text("name").notNull(),
    labels: text("labels").notNull(),
    count: bigint("count", { mode: "number" }).notNull(),
    sumMs: doublePrecision("sum_ms").notNull(),
    buckets: bigint("buckets", { mode: "number" }).array().notNull(),
  },
  (t) => [primaryKey({ columns: [t.start, t.name, t.labels] })],
);

/** How far the minute rollup has got: the start of the last minute it moved out of the store. */
export const metricsRollupCursor = pgTable("metrics_rollup_cursor", {
  id: integer("id").primaryKey(),
  rolledThrough: timestamp("rolled_through", { withTimezone: true }).notNull(),
});

/**
 * Every request retained, cluster-wide, summed per route, method and status class: what GET /metrics counts.
 * Each request is read from exactly one table, split at H, the hour of the first minute not yet rolled up:
 *
 * 1. day rows for the days before H's day (complete: all their minutes were rolled up);
 * 2. hour rows for H's day up to H (complete for the same reason);
 * 3. minute rows from H on, plus the minutes still in the store after the rollup's cursor.
 *
 * The totals only grow, except once a day when prune-metrics drops a day row older than 400 days: scrapers
 * read that as a counter reset.
 */
import type { Db } from "../db/database.ts";
import { totalsByRoute } from "../metrics/exposition.ts";
import { MINUTE_KEY_TTL_MS, MINUTE_MS } from "../metrics/minute-fields.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";
import type { Store } from "../store/store.ts";
import { readRouteMinutes } from "./read-route-minutes.ts";
import { DAY_MS, HOUR_MS, readRollupCursor } from "./rollup-minutes.ts";

const EPOCH = new Date(0);

export async function readRouteTotals(db: Db, store: Store, now: number): Promise<RouteMinute[]> {
  const cursor = await readRollupCursor(db);
  // Past the store's key lifetime nothing is left to roll up: a stalled rollup costs no more reads than that.
  const oldestKept = now - MINUTE_KEY_TTL_MS;
  const firstOpen = Math.min(now, Math.max(oldestKept, cursor === undefined ? now : (cursor + 1) * MINUTE_MS));
  const hour = new Date(Math.floor(firstOpen / HOUR_MS) * HOUR_MS);
  const day = new Date(Math.floor(firstOpen / DAY_MS) * DAY_MS);
  const end = new Date(now + 1);
  const [days, hours, minutes] = await Promise.all([
    readRouteMinutes(db, { from: EPOCH, to: day, granularity: "day" }),
    readRouteMinutes(db, { from: day, to: hour, granularity: "hour" }),
    readRouteMinutes(db, { from: hour, to: end, granularity: "minute", open: { store, now } }),
  ]);
  return totalsByRoute([...days, ...hours, ...minutes]);
}

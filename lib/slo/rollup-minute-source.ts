/**
 * The SLOs' route minutes, cluster-wide: hour rows for the older part of a window, minute rows (and the minutes
 * still in the store) for the last day. Minute rows are kept 48 h, so a day back is always there; hours keep 35 d.
 */

import type { RouteMinute } from "../metrics/route-minute.ts";
import { readRouteMinutes } from "../metrics-rollup/read-route-minutes.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { MinuteSource } from "./slo-events.ts";

const HOUR_MS = 3_600_000;
/** How far back minute rows are read; before it, hour rows, which the hourly rollup has surely written. */
export const MINUTE_DETAIL_MS = 24 * HOUR_MS;

export function rollupMinuteSource(runtime: Runtime): MinuteSource {
  return async (from, to) => {
    const now = runtime.now();
    const boundary = new Date(Math.floor((now - MINUTE_DETAIL_MS) / HOUR_MS) * HOUR_MS);
    const db = runtime.db.primary;
    const rows: RouteMinute[] = [];
    if (from < boundary)
      rows.push(...(await readRouteMinutes(db, { from, to: to < boundary ? to : boundary, granularity: "hour" })));
    if (to > boundary) {
      const minutesFrom = from > boundary ? from : boundary;
      const open = { store: runtime.store, now };
      rows.push(...(await readRouteMinutes(db, { from: minutesFrom, to, granularity: "minute", open })));
    }
    return rows;
  };
}

import { metricsMinute, sloAlerts } from "../lib/db/schema/index.ts";
import { LATENCY_BUCKET_COUNT } from "../lib/metrics/latency-buckets.ts";
import type { RouteMinute, StatusClass } from "../lib/metrics/route-minute.ts";
import type { Runtime } from "../lib/runtime/runtime.ts";
import { clearRollups, discardRecordedMetrics } from "./metrics-app.ts";

const MINUTE_MS = 60_000;
export const FIXTURE_NOW = Date.UTC(2027, 2, 1, 12, 0, 30);
export const FIRING_SINCE = new Date(FIXTURE_NOW - 20 * MINUTE_MS);

function row(start: number, route: string, statusClass: StatusClass, count: number, bucket: number): RouteMinute {
  const buckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  buckets[bucket] = count;
  return { start: new Date(start), route, method: "GET", statusClass, count, sumMs: count * 20, buckets };
}

/** Every 10th minute of the last 24 h: orgs 1000 requests (1 a 5xx), auth 100 (all 5xx in the worst hour). */
export function fixtureRows(): RouteMinute[] {
  const rows: RouteMinute[] = [];
  const first = Math.floor(FIXTURE_NOW / MINUTE_MS) * MINUTE_MS - 24 * 60 * MINUTE_MS;
  for (let start = first; start < FIXTURE_NOW - MINUTE_MS; start += 10 * MINUTE_MS) {
    rows.push(row(start, "/v1/orgs/:orgId", 2, 999, 3), row(start, "/v1/orgs/:orgId", 5, 1, 5));
    const badHour = start >= FIXTURE_NOW - 6 * 60 * MINUTE_MS && start < FIXTURE_NOW - 5 * 60 * MINUTE_MS;
    rows.push(badHour ? row(start, "/v1/auth/login", 5, 100, 9) : row(start, "/v1/auth/login", 2, 100, 6));
  }
  return rows;
}

export async function seedStatusFixture(runtime: Runtime): Promise<void> {
  // The registry is one per process: traffic other test files recorded would be flushed into this store.
  await discardRecordedMetrics(FIXTURE_NOW);
  const db = runtime.db.primary;
  await clearRollups(db);
  const rows = fixtureRows();
  for (let index = 0; index < rows.length; index += 200)
    await db.insert(metricsMinute).values(rows.slice(index, index + 200));
  await db.insert(sloAlerts).values({
    slo: "orgs-availability",
    severity: "page",
    state: "firing",
    since: FIRING_SINCE,
    dedupKey: "slo:orgs-availability:page",
    details: { rule: "1h/5m" },
    updatedAt: FIRING_SINCE,
  });
}

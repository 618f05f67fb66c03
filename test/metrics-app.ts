/** An app with routes that answer 200 and 500, for the metrics tests, and a way to start them from a clean slate. */
import { sql } from "drizzle-orm";
import { Elysia } from "elysia";
import health from "../functions/health.ts";
import type { Db } from "../lib/db/database.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { MINUTE_KEY_TTL_MS, MINUTE_MS, minuteKey } from "../lib/metrics/minute-fields.ts";
import type { Runtime } from "../lib/runtime/runtime.ts";
import { MemoryStore } from "../lib/store/memory-store.ts";
import type { Store } from "../lib/store/store.ts";

const PUBLIC = { public: { rateLimits: [] } } as const;

export const metricsRoutes = defineRouteGroup("metrics-test", () =>
  new Elysia({ name: "metrics-test" })
    .use(policyPlugin)
    .get("/m/ok/:id", () => ({ ok: true }), PUBLIC)
    .get("/m/limited", () => ({ ok: true }), {
      public: { rateLimits: [{ name: "metrics-test", limit: 1, window: "1h", scope: "ip" }] },
    })
    .get(
      "/m/fail",
      () => {
        throw new Error("the route fails on purpose");
      },
      PUBLIC,
    ),
);

export function buildMetricsApp(runtime: Runtime): RampartApp {
  return buildApp(runtime, [health, metricsRoutes]);
}

/** The registry is one per process: what earlier tests recorded is flushed away first, into a throwaway store. */
export async function discardRecordedMetrics(now: number): Promise<void> {
  await metricsRegistry().flush(new MemoryStore(), now, true);
}

/** Sends `count` requests to `path`, from `ip` when given, and checks each got `status`. */
export async function send(app: RampartApp, path: string, count: number, status: number, ip?: string): Promise<void> {
  const server = ip === undefined ? undefined : { requestIP: () => ({ address: ip }) };
  for (let i = 0; i < count; i++) {
    const response = await app.fetch(new Request(`http://localhost${path}`), server);
    await response.arrayBuffer();
    if (response.status !== status) throw new Error(`${path} answered ${response.status}, expected ${status}`);
  }
}

/** Empties the rollup tables, their cursor and the SLO alert state, so a test reads only what it recorded. */
export async function clearRollups(db: Db): Promise<void> {
  await db.execute(
    sql`truncate metrics_minute, metrics_hour, metrics_day, metrics_series_minute, metrics_rollup_cursor, slo_alerts`,
  );
}

/**
 * The rollup catches up from an empty cursor over every minute a key can still live (3 h): deletes the minute
 * keys an earlier run against the same Redis left there, up to a few minutes past `minute`.
 */
export async function clearMinuteKeys(store: Store, minute: number): Promise<void> {
  const span = MINUTE_KEY_TTL_MS / MINUTE_MS;
  await store.del(...Array.from({ length: span + 10 }, (_, back) => minuteKey(minute + 10 - back)));
}

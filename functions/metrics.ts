/**
 * GET /metrics: Prometheus text, or OpenMetrics when Accept asks for it, of the cluster-wide counts (the
 * rollups and the minutes still in the store, so every instance answers the same) and the SLOs' gauges.
 */
import { Elysia } from "elysia";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import {
  expositionFormatFor,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  renderExposition,
} from "../lib/metrics/exposition.ts";
import { readRouteTotals } from "../lib/metrics-rollup/read-route-totals.ts";
import { DECLARED_SLOS } from "../lib/slo/declared-slos.ts";
import { rollupMinuteSource } from "../lib/slo/rollup-minute-source.ts";
import { sloGauges } from "../lib/slo/slo-gauges.ts";
import { buildSloReport } from "../lib/slo/slo-report.ts";

// A scraper (or a few, for redundancy) every 15 s, with its own credential: operators' rights are not needed.
const SCRAPE: UserPolicy = {
  metricsToken: true,
  rateLimits: [{ name: "metrics", limit: 60, window: "1m", scope: "ip" }],
  body: "none",
  timeout: "read",
};

const CONTENT_TYPES = { prometheus: PROMETHEUS_CONTENT_TYPE, openmetrics: OPENMETRICS_CONTENT_TYPE } as const;

export default defineRouteGroup("metrics", (runtime) =>
  new Elysia({ name: "metrics" }).use(policyPlugin).get(
    "/metrics",
    async ({ request }) => {
      const now = runtime.now();
      const [totals, report] = await Promise.all([
        readRouteTotals(runtime.db.primary, runtime.store, now),
        buildSloReport(runtime.db.primary, DECLARED_SLOS, rollupMinuteSource(runtime), new Date(now)),
      ]);
      const format = expositionFormatFor(request.headers.get("accept"));
      return new Response(renderExposition(totals, sloGauges(report.slos), format), {
        headers: { "content-type": CONTENT_TYPES[format], vary: "accept" },
      });
    },
    {
      admin: SCRAPE,
      detail: {
        summary: "Cluster-wide request counts, latency histograms and SLO gauges for Prometheus",
        responses: {
          200: {
            description: "Prometheus text 0.0.4, or OpenMetrics 1.0 when Accept names application/openmetrics-text.",
            content: {
              "text/plain; version=0.0.4": { schema: { type: "string" } },
              "application/openmetrics-text; version=1.0.0": { schema: { type: "string" } },
            },
          },
        },
      },
    },
  ),
);

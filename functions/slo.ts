/** GET /admin/slo: each declared SLO's objective, SLI over its window, budget left, burn rates and firing alerts. */
import { Elysia } from "elysia";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { DECLARED_SLOS } from "../lib/slo/declared-slos.ts";
import { rollupMinuteSource } from "../lib/slo/rollup-minute-source.ts";
import { buildSloReport } from "../lib/slo/slo-report.ts";

const READ: UserPolicy = {
  rateLimits: [{ name: "admin-slo", limit: 60, window: "1m", scope: "ip" }],
  body: "none",
  timeout: "read",
};

// The response's shape, for the API docs: lib/slo/slo-report.ts's SloReport.
const sloReportResponse = lazySchema(({ type }) => {
  const burnRates = type({
    "5m": "number",
    "30m": "number",
    "1h": "number",
    "6h": "number",
    "1d": "number",
    "3d": "number",
  });
  const slo = type({
    name: "string",
    group: "string",
    sli: type({ kind: "'availability'" }).or({ kind: "'latency'", thresholdMs: "number" }),
    objective: "number",
    windowMs: "number",
    good: "number",
    total: "number",
    sliValue: "number",
    budgetRemaining: "number",
    burnRates,
    firing: type({ severity: "string", since: "string", dedupKey: "string" }).array(),
    latency: type({
      route: "string",
      method: "string",
      count: "number",
      p50: "number",
      p95: "number",
      p99: "number",
    }).array(),
  });
  return type({ generatedAt: "string", slos: slo.array() });
});

export default defineRouteGroup("slo", (runtime) =>
  new Elysia({ name: "slo" })
    .use(policyPlugin)
    .get(
      "/admin/slo",
      () => buildSloReport(runtime.db.primary, DECLARED_SLOS, rollupMinuteSource(runtime), new Date(runtime.now())),
      { admin: READ, response: { 200: sloReportResponse } },
    ),
);

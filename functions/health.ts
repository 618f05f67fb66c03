/** Liveness and readiness probes. */
import { Elysia } from "elysia";
import { createReadinessCheck } from "../lib/health/readiness.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

export default defineRouteGroup("health", (runtime) => {
  const checkReadiness = createReadinessCheck(runtime, { cacheMs: runtime.config.readinessCacheMs });
  return new Elysia({ name: "health" })
    .get("/health/live", () => ({ status: "live" }))
    .get("/health/ready", async ({ set }) => {
      const report = await checkReadiness();
      set.status = report.status === "ready" ? 200 : 503;
      return report;
    });
});

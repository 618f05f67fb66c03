/** Liveness and readiness probes: public, never rate limited, never IP-blocked, never cached. */
import { Elysia } from "elysia";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { createReadinessCheck } from "../lib/health/readiness.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

// Load balancers probe from a handful of addresses; a limit or a block of one would take the instance out of rotation.
const PROBE: UserPolicy = { rateLimits: [], ipBlocks: "exempt", bodyLimitBytes: 0, timeout: "read" };

export default defineRouteGroup("health", (runtime) => {
  const checkReadiness = createReadinessCheck(runtime, { cacheMs: runtime.config.readinessCacheMs });
  return new Elysia({ name: "health" })
    .use(policyPlugin)
    .get("/health/live", () => ({ status: "live" }), { public: PROBE })
    .get(
      "/health/ready",
      async ({ set }) => {
        const report = await checkReadiness();
        set.status = report.status === "ready" ? 200 : 503;
        return report;
      },
      { public: PROBE },
    );
});

/** Scheduled job triggers: Vercel Cron calls GET /cron/<job>; an operator may POST the same path. */
import { Elysia } from "elysia";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { findScheduledJob } from "../lib/cron/registry.ts";
import { runScheduledJob } from "../lib/cron/scheduled-job.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

const CRON_TRIGGER: UserPolicy = {
  rateLimits: [{ name: "trigger", limit: 30, window: "1m", scope: "ip" }],
  bodyLimitBytes: 0,
  timeout: "cron",
};

export default defineRouteGroup("cron", (runtime) => {
  const trigger = async ({ params }: { params: { job: string } }) => {
    const job = findScheduledJob(params.job);
    if (job === undefined) throw new AppError("NOT_FOUND", `No scheduled job named "${params.job}".`);
    return { job: job.name, ...(await runScheduledJob(runtime, job)) };
  };
  return new Elysia({ name: "cron" })
    .use(policyPlugin)
    .get("/cron/:job", trigger, { cron: CRON_TRIGGER })
    .post("/cron/:job", trigger, { cron: CRON_TRIGGER });
});

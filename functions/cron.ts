/** Scheduled job triggers: Vercel Cron calls GET /cron/<job>; an operator may POST the same path. */
import { Elysia } from "elysia";
import { createCronAuthorizer } from "../lib/cron/cron-auth.ts";
import { findScheduledJob } from "../lib/cron/registry.ts";
import { runScheduledJob } from "../lib/cron/scheduled-job.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

export default defineRouteGroup("cron", (runtime) => {
  const authorizeCron = createCronAuthorizer(runtime.config.cronSecret, runtime.logger);
  const trigger = async ({ params, request }: { params: { job: string }; request: Request }) => {
    authorizeCron(request.headers.get("authorization"));
    const job = findScheduledJob(params.job);
    if (job === undefined) throw new AppError("NOT_FOUND", `No scheduled job named "${params.job}".`);
    return { job: job.name, ...(await runScheduledJob(runtime, job)) };
  };
  return new Elysia({ name: "cron" }).get("/cron/:job", trigger).post("/cron/:job", trigger);
});

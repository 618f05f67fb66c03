/** Deno Deploy: the same apps under Deno.serve, and the same schedules registered with Deno.cron. */
import type { ScheduledJob } from "../cron/scheduled-job.ts";
import { runScheduledJob } from "../cron/scheduled-job.ts";
import type { RouteGroup } from "../http/route-group.ts";
import { createServerlessApp, loadConfigOrThrow } from "./serverless-app.ts";

interface DenoGlobal {
  serve(handler: (request: Request) => Promise<Response>): unknown;
  cron(name: string, schedule: string, handler: () => Promise<void>): Promise<void>;
  env: { toObject(): Record<string, string> };
}

export function startDenoDeploy(deno: DenoGlobal, groups: readonly RouteGroup[], jobs: readonly ScheduledJob[]): void {
  const app = createServerlessApp(loadConfigOrThrow(deno.env.toObject()), groups);
  deno.serve(app.fetch);
  for (const job of jobs) {
    deno.cron(job.name, job.schedule, async () => {
      await runScheduledJob(await app.runtime(), job);
    });
  }
}

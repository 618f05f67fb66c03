/** Deno Deploy: the same apps under Deno.serve, and the same schedules registered with Deno.cron. */
import type { ScheduledJob } from "../cron/scheduled-job.ts";
import { runScheduledJob } from "../cron/scheduled-job.ts";
import type { RouteGroup } from "../http/route-group.ts";
import { createServerlessApp, loadConfigOrThrow } from "./serverless-app.ts";

interface DenoServeInfo {
  remoteAddr: { hostname: string };
}

interface DenoGlobal {
  serve(handler: (request: Request, info: DenoServeInfo) => Promise<Response>): unknown;
  /** Absent outside Deno Deploy unless Deno runs with --unstable-cron. */
  cron?(name: string, schedule: string, handler: () => Promise<void>): Promise<void>;
  env: { toObject(): Record<string, string> };
}

export function startDenoDeploy(deno: DenoGlobal, groups: readonly RouteGroup[], jobs: readonly ScheduledJob[]): void {
  const app = createServerlessApp(loadConfigOrThrow(deno.env.toObject()), groups);
  // The connection's address, for TRUST_PROXY=none: Deno Deploy's own edge is the peer clients reach.
  deno.serve((request, info) => app.fetch(request, info.remoteAddr.hostname));
  if (deno.cron === undefined) {
    console.warn("Deno.cron is not available (run with --unstable-cron): the scheduled jobs are not registered");
    return;
  }
  for (const job of jobs) {
    deno.cron(job.name, job.schedule, async () => {
      await runScheduledJob(await app.runtime(), job);
    });
  }
}

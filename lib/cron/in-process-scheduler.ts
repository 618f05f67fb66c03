/** Runs scheduled jobs inside a long-lived process (bun dev, self-hosted) on each matching UTC minute. */
import type { Runtime } from "../runtime/runtime.ts";
import { parseCronExpression } from "./cron-expression.ts";
import { runScheduledJob, type ScheduledJob } from "./scheduled-job.ts";

export function startInProcessScheduler(runtime: Runtime, jobs: readonly ScheduledJob[]): { stop(): void } {
  const schedules = jobs.map((job) => ({ job, expression: parseCronExpression(job.schedule) }));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    const now = new Date();
    for (const { job, expression } of schedules) {
      if (!expression.matches(now)) continue;
      // A failed run is already logged and recorded by runScheduledJob; the next slot tries again.
      runScheduledJob(runtime, job, now).catch(() => undefined);
    }
    timer = setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
    timer.unref?.();
  };
  timer = setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
  timer.unref?.();
  return { stop: () => clearTimeout(timer) };
}

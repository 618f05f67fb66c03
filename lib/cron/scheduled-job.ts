/**
 * Scheduled jobs run at most once per scheduled minute across all instances: the run claims its
 * (job, slot) row first, so two triggers at once, or a retried trigger, do the work once.
 */
import { and, eq } from "drizzle-orm";
import { jobRuns } from "../db/schema/index.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { currentTrace, runInTrace, TraceContext } from "../trace/trace-context.ts";

export interface ScheduledJob {
  readonly name: string;
  /** Five-field cron, UTC. */
  readonly schedule: string;
  run(runtime: Runtime, signal: AbortSignal): Promise<string>;
}

export type JobOutcome = { status: "succeeded"; detail: string } | { status: "skipped"; reason: "already-claimed" };

export const DEFAULT_JOB_TIMEOUT_MS = 55_000;

/** The slot a trigger at `at` belongs to: its UTC minute. */
export function slotFor(at: Date): string {
  return at.toISOString().slice(0, 16);
}

/** Runs `job` for the slot of `at`: in the trace of the request that triggered it, or in a new one. */
export function runScheduledJob(runtime: Runtime, job: ScheduledJob, at: Date = new Date()): Promise<JobOutcome> {
  if (currentTrace() !== undefined) return claimAndRun(runtime, job, at);
  return runInTrace(new TraceContext(undefined), () => claimAndRun(runtime, job, at));
}

async function claimAndRun(runtime: Runtime, job: ScheduledJob, at: Date): Promise<JobOutcome> {
  const db = runtime.db.primary;
  const slot = slotFor(at);
  const claimed = await db
    .insert(jobRuns)
    .values({ job: job.name, slot })
    .onConflictDoNothing()
    .returning({ job: jobRuns.job });
  if (claimed.length === 0) return { status: "skipped", reason: "already-claimed" };
  const thisRun = and(eq(jobRuns.job, job.name), eq(jobRuns.slot, slot));
  const started = performance.now();
  try {
    const detail = await job.run(runtime, AbortSignal.timeout(DEFAULT_JOB_TIMEOUT_MS));
    await db.update(jobRuns).set({ status: "succeeded", finishedAt: new Date(), detail }).where(thisRun);
    runtime.logger.info("job succeeded", {
      job: job.name,
      slot,
      detail,
      durationMs: Math.round(performance.now() - started),
    });
    return { status: "succeeded", detail };
  } catch (error) {
    await db
      .update(jobRuns)
      .set({ status: "failed", finishedAt: new Date(), detail: error instanceof Error ? error.message : String(error) })
      .where(thisRun);
    runtime.logger.error("job failed", { job: job.name, slot, error });
    throw error;
  }
}

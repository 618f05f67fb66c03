/** Deletes the bookkeeping rows of job runs older than the retention period, in bounded batches. */
import { inArray, lt, sql } from "drizzle-orm";
import { jobRuns } from "../../db/schema/index.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const JOB_RUN_RETENTION_DAYS = 30;
const BATCH_SIZE = 1_000;

export const pruneJobRuns: ScheduledJob = {
  name: "prune-job-runs",
  schedule: "17 3 * * *",
  async run(runtime, signal) {
    const cutoff = new Date(Date.now() - JOB_RUN_RETENTION_DAYS * 86_400_000);
    let deleted = 0;
    while (!signal.aborted) {
      const batch = runtime.db.primary
        .select({ key: sql<string>`${jobRuns.job} || '/' || ${jobRuns.slot}` })
        .from(jobRuns)
        .where(lt(jobRuns.startedAt, cutoff))
        .limit(BATCH_SIZE);
      const rows = await runtime.db.primary
        .delete(jobRuns)
        .where(inArray(sql`${jobRuns.job} || '/' || ${jobRuns.slot}`, batch))
        .returning({ job: jobRuns.job });
      deleted += rows.length;
      if (rows.length < BATCH_SIZE) break;
    }
    return `deleted ${deleted} job runs older than ${JOB_RUN_RETENTION_DAYS} days`;
  },
};

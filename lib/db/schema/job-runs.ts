/** One row per scheduled job per time slot: the primary key is what makes a job run once per slot. */
import { pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

export const jobRuns = pgTable(
  "job_runs",
  {
    job: text("job").notNull(),
    slot: text("slot").notNull(),
    status: text("status", { enum: ["running", "succeeded", "failed"] })
      .notNull()
      .default("running"),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    detail: text("detail"),
  },
  (t) => [primaryKey({ columns: [t.job, t.slot] })],
);

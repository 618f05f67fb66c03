/** Every minute: closed minutes of metrics from the store into metrics_minute, and their hours and days. */
import { rollUpMetrics } from "../../metrics-rollup/rollup-minutes.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const rollupMetrics: ScheduledJob = {
  name: "rollup-metrics",
  schedule: "* * * * *",
  async run(runtime, signal) {
    const { minutes, rows, hours } = await rollUpMetrics(runtime.db.primary, runtime.store, runtime.now(), signal);
    return `rolled up ${minutes} minutes (${rows} rows) into ${hours} hours`;
  },
};

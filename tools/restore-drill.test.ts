/** The restore drill CI runs on PostgreSQL 15: a dump restored into a new database is the same database. */
import { expect, test } from "bun:test";
import { TEST_POSTGRES_URL } from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { describeDrill, drillProblems, runRestoreDrill } from "./restore-drill.ts";

// Populating, dumping, restoring and booting the app on a loaded 2-core machine: seconds, well under this.
const DRILL_TIMEOUT_MS = 120_000;

describeWithServers(["postgres", "postgres-programs"], "restore drill", () => {
  test(
    "every table's rows and column checksums survive dump and restore; migrations are a no-op; the copy serves " +
      "readiness and a sign-in",
    async () => {
      const report = await runRestoreDrill(TEST_POSTGRES_URL ?? "");
      // The measured RTO, in CI's log.
      console.log(describeDrill(report));
      expect(drillProblems(report)).toEqual([]);
      const tables = new Map(report.restored.map((t) => [t.table, t.rows]));
      expect(tables.get("public.users")).toBe(1);
      expect(tables.get("public.job_runs")).toBeGreaterThanOrEqual(2_000);
      expect(tables.get("drizzle.__drizzle_migrations")).toBe(report.migrations.before);
      expect(report.timings.rtoMs).toBeGreaterThan(0);
    },
    DRILL_TIMEOUT_MS,
  );
});

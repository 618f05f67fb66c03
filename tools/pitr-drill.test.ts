/** Point-in-time recovery on a private cluster with WAL archiving: back to T, exactly the rows committed before it. */
import { expect, test } from "bun:test";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { describePitrDrill, runPitrDrill } from "./pitr-drill.ts";

// Two clusters started, a base backup and WAL replay on a loaded 2-core machine: about 20 s, under a minute.
const DRILL_TIMEOUT_MS = 120_000;

describeWithServers(["postgres-programs"], "point-in-time recovery drill", () => {
  test(
    "recovering a base backup with the WAL archive to T brings back the rows written after the backup and before " +
      "T, and none after",
    async () => {
      const report = await runPitrDrill(process.env.TEST_POSTGRES_BIN ?? "");
      // The measured recovery time, in CI's log.
      console.log(describePitrDrill(report));
      expect(report.recoveredRows).toBe(report.expectedRows);
      expect(report.rowsAfterTargetRecovered).toBe(0);
    },
    DRILL_TIMEOUT_MS,
  );
});

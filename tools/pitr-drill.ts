/**
 * `bun run db:pitr-drill`: point-in-time recovery on a private PostgreSQL cluster with WAL archiving. A base backup,
 * rows written after it, the time T noted, more rows, then the table dropped; a copy of the base backup replays the
 * archived WAL up to T and must hold exactly the rows committed before T. Prints how long recovery took.
 */
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "../test/free-port.ts";
import {
  makeClusterFolder,
  postgresBin,
  runAsPostgres,
  runPostgresProgram,
  startCluster,
  stopCluster,
} from "./pg-cluster.ts";

export interface PitrDrillReport {
  /** Rows committed before T: in the base backup, and written after it (replayed from the archive). */
  expectedRows: number;
  recoveredRows: number;
  /** The first row id written after T, which must not come back. */
  rowsAfterTargetRecovered: number;
  recoveryMs: number;
  target: string;
}

const [BEFORE_BACKUP, AFTER_BACKUP, AFTER_TARGET] = [1_000, 500, 250];

const insertRows = (sql: postgres.Sql, from: number, count: number) =>
  sql`insert into drill_rows (id, note)
    select n, 'row ' || n from generate_series(${from}::int, ${from + count - 1}::int) n`;

/** Waits until the archiver has copied `walFile` (names sort in WAL order). */
async function waitForArchive(sql: postgres.Sql, walFile: string): Promise<void> {
  for (;;) {
    const [row] = await sql<{ archived: string | null }[]>`select last_archived_wal as archived from pg_stat_archiver`;
    if (row?.archived != null && row.archived >= walFile) return;
    await Bun.sleep(50);
  }
}

export async function runPitrDrill(bin: string): Promise<PitrDrillReport> {
  const folder = makeClusterFolder(join(tmpdir(), `rampart-pitr-${crypto.randomUUID().slice(0, 8)}`));
  const [dataDir, baseDir, recoveredDir] = ["data", "base", "recovered"].map((name) => join(folder, name)) as [
    string,
    string,
    string,
  ];
  const archiveDir = makeClusterFolder(join(folder, "archive"));
  let running: string[] = [];
  try {
    await runPostgresProgram(bin, "initdb", [
      "-D",
      dataDir,
      "-A",
      "trust",
      "-U",
      "postgres",
      "--no-sync",
      "-E",
      "UTF8",
    ]);
    appendFileSync(
      join(dataDir, "postgresql.conf"),
      `wal_level = replica\narchive_mode = on\narchive_command = 'cp %p ${archiveDir}/%f'\n`,
    );
    const url = await startCluster({ bin, dataDir, port: freePort(), settings: { fsync: "off" } });
    running.push(dataDir);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql`create table drill_rows (id int primary key, note text not null)`;
    await insertRows(sql, 1, BEFORE_BACKUP);
    // --checkpoint=fast: the default spread checkpoint can hold the backup for minutes.
    await runPostgresProgram(bin, "pg_basebackup", ["-d", url, "-D", baseDir, "-X", "stream", "--checkpoint=fast"]);
    await insertRows(sql, BEFORE_BACKUP + 1, AFTER_BACKUP);
    const [{ target } = { target: "" }] = await sql<{ target: string }[]>`select clock_timestamp()::text as target`;
    await insertRows(sql, BEFORE_BACKUP + AFTER_BACKUP + 1, AFTER_TARGET);
    await sql`drop table drill_rows`;
    const [{ wal } = { wal: "" }] = await sql<{ wal: string }[]>`select pg_walfile_name(pg_switch_wal()) as wal`;
    await waitForArchive(sql, wal);
    await sql.end({ timeout: 1 });
    await stopCluster(bin, dataDir);
    running = [];

    await runAsPostgres(["cp", "-a", baseDir, recoveredDir]);
    writeFileSync(join(recoveredDir, "recovery.signal"), "");
    appendFileSync(
      join(recoveredDir, "postgresql.auto.conf"),
      `archive_mode = off\nrestore_command = 'cp ${archiveDir}/%f %p'\n` +
        `recovery_target_time = '${target}'\nrecovery_target_action = 'promote'\n`,
    );
    const started = performance.now();
    const recoveredUrl = await startCluster({
      bin,
      dataDir: recoveredDir,
      port: freePort(),
      settings: { fsync: "off" },
    });
    running.push(recoveredDir);
    const recovered = postgres(recoveredUrl, { max: 1, onnotice: () => {} });
    for (;;) {
      const [row] = await recovered<{ recovering: boolean }[]>`select pg_is_in_recovery() as recovering`;
      if (row?.recovering === false) break;
      await Bun.sleep(50);
    }
    const recoveryMs = performance.now() - started;
    const [counts] = await recovered<{ rows: number; after: number }[]>`
      select count(*)::int as rows, count(*) filter (where id > ${BEFORE_BACKUP + AFTER_BACKUP})::int as after
      from drill_rows`;
    await recovered.end({ timeout: 1 });
    return {
      expectedRows: BEFORE_BACKUP + AFTER_BACKUP,
      recoveredRows: counts?.rows ?? 0,
      rowsAfterTargetRecovered: counts?.after ?? 0,
      recoveryMs,
      target,
    };
  } finally {
    for (const dir of running) await stopCluster(bin, dir).catch(() => undefined);
    rmSync(folder, { recursive: true, force: true });
  }
}

export function describePitrDrill(report: PitrDrillReport): string {
  return (
    `PITR drill: recovered to ${report.target} in ${(report.recoveryMs / 1000).toFixed(2)} s: ` +
    `${report.recoveredRows} rows (expected ${report.expectedRows}), ${report.rowsAfterTargetRecovered} written after T`
  );
}

if (import.meta.main) {
  const bin = postgresBin();
  if (bin === undefined) {
    console.error("no PostgreSQL server programs found: install postgresql, or set PG_BIN to their bin folder");
    process.exit(1);
  }
  const report = await runPitrDrill(bin);
  console.log(describePitrDrill(report));
  const passed = report.recoveredRows === report.expectedRows && report.rowsAfterTargetRecovered === 0;
  process.exit(passed ? 0 : 1);
}

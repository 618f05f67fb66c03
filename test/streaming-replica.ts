/**
 * A real streaming replica of the test server (TEST_POSTGRES_URL), made with `pg_basebackup -R` on another loopback
 * port, for the read-routing tests: lag is induced with `pg_wal_replay_pause()`, and the replica can be stopped.
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { makeClusterFolder, runPostgresProgram, startCluster, stopCluster } from "../tools/pg-cluster.ts";
import { TEST_POSTGRES_URL } from "./backends.ts";
import { freePort } from "./free-port.ts";

export interface StreamingReplica {
  /** The replica's server URL; `database` picks one of the primary's databases on it. */
  urlOf(database: string): string;
  /** Runs SQL on the replica's `postgres` database as the superuser (pause and resume replay, measure lag). */
  admin: postgres.Sql;
  /** Waits until the replica has replayed everything the primary had written when this was called. */
  catchUp(): Promise<void>;
  /** Waits until the replica has received (not necessarily replayed) what the primary had written. */
  received(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the replica if it runs and removes its files. */
  remove(): Promise<void>;
}

export async function startStreamingReplica(): Promise<StreamingReplica> {
  const bin = process.env.TEST_POSTGRES_BIN;
  if (TEST_POSTGRES_URL === undefined || bin === undefined) throw new Error("TEST_POSTGRES_URL and TEST_POSTGRES_BIN");
  const folder = makeClusterFolder(join(tmpdir(), `rampart-replica-${crypto.randomUUID().slice(0, 8)}`));
  const dataDir = join(folder, "data");
  const primary = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  // A standby refuses to start with fewer connections than its primary allows.
  const [setting] = await primary<{ max_connections: string }[]>`show max_connections`;
  // --checkpoint=fast: the default spread checkpoint can hold the copy for minutes.
  await runPostgresProgram(bin, "pg_basebackup", [
    "-d",
    TEST_POSTGRES_URL,
    "-D",
    dataDir,
    "-R",
    "-X",
    "stream",
    "--checkpoint=fast",
  ]);
  const port = freePort();
  const url = await startCluster({
    bin,
    dataDir,
    port,
    settings: { fsync: "off", max_connections: setting?.max_connections ?? 100 },
  });
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  let running = true;
  // Polls the standby's own position: streaming is asynchronous, so there is nothing to await instead.
  const waitFor = async (position: string) => {
    const [current] = await primary<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
    for (;;) {
      const [row] = await admin.unsafe<{ reached: boolean }[]>(
        `select ${position} >= '${current?.lsn}'::pg_lsn as reached`,
      );
      if (row?.reached) return;
      await Bun.sleep(20);
    }
  };
  const replica: StreamingReplica = {
    urlOf: (database) => Object.assign(new URL(url), { pathname: `/${database}` }).toString(),
    admin,
    catchUp: () => waitFor("pg_last_wal_replay_lsn()"),
    received: () => waitFor("pg_last_wal_receive_lsn()"),
    async stop() {
      if (!running) return;
      running = false;
      await admin.end({ timeout: 1 });
      await stopCluster(bin, dataDir);
    },
    async remove() {
      await replica.stop();
      await primary.end({ timeout: 1 });
      rmSync(folder, { recursive: true, force: true });
      rmSync(`${dataDir}.log`, { force: true });
    },
  };
  return replica;
}

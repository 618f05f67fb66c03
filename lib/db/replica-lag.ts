/**
 * How far a streaming replica is behind, measured on the replica itself (one query, no primary round trip):
 * the time since the last transaction it replayed, while it has received WAL it has not replayed yet.
 */
import { sql } from "drizzle-orm";
import type { Db } from "./database.ts";

/** A lag sample: `lagMs` undefined when it could not be measured (the replica failed, or replayed nothing yet). */
export interface ReplicaLagSample {
  lagMs: number | undefined;
  /** WAL received but not replayed, in bytes; undefined when unknown. */
  behindBytes: number | undefined;
  error?: unknown;
}

// Caught up (all received WAL replayed) counts as no lag: on an idle primary the replay timestamp only ages.
// A server not in recovery is the primary itself (a read URL that points at it). A replica that replayed nothing
// since it started has no timestamp: unknown, so reads stay on the primary until it replays something.
const LAG_QUERY = sql.raw(`select
  case
    when not pg_is_in_recovery() then 0
    when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
    else extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000
  end as lag_ms,
  case when pg_is_in_recovery() then pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) else 0 end
    as behind_bytes`);

const asNumber = (value: unknown) => (value === null || value === undefined ? undefined : Number(value));

/** One sample of `replica`'s lag; never throws (a failure is a sample with `error`). */
export async function measureReplicaLag(replica: Db): Promise<ReplicaLagSample> {
  try {
    const result = (await replica.execute(LAG_QUERY)) as unknown;
    // postgres.js answers an array of rows, the Neon driver a result with `rows`.
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Record<string, unknown>[];
    return { lagMs: asNumber(rows[0]?.lag_ms), behindBytes: asNumber(rows[0]?.behind_bytes) };
  } catch (error) {
    return { lagMs: undefined, behindBytes: undefined, error };
  }
}

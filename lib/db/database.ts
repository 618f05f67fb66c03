/** The database handle the rest of the lib receives, whatever driver is behind it. */
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Breaker, BreakerOptions } from "../resilience/breaker.ts";
import { isDatabaseUnavailable } from "./database-unavailable.ts";
import type * as schema from "./schema/index.ts";

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface Database {
  readonly driver: "pglite" | "neon" | "postgres";
  /** The breaker every query (and each transaction, as one call) passes through; PGlite, in process, has none. */
  readonly breaker?: Breaker;
  /** The read replica's own breaker, when DATABASE_READ_URL names one: a dead replica never opens the primary's. */
  readonly replicaBreaker?: Breaker;
  /** Writes, and reads that must see the caller's own writes. */
  readonly primary: Db;
  /**
   * Runs a read on the replica when there is one and it is close enough behind, on the primary otherwise (and
   * within the read-your-writes window of the request's caller, see lib/db/read-your-writes.ts).
   */
  read<T>(query: (db: Db) => Promise<T>): Promise<T>;
  ping(signal?: AbortSignal): Promise<void>;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = new URL("../../migrations", import.meta.url).pathname;

/** The breaker in front of a production database: opened only by errors that say the server cannot serve. */
export const DATABASE_BREAKER: Partial<BreakerOptions> = {
  consecutiveFailures: 5,
  halfOpenAfterMs: 1_000,
  isFailure: isDatabaseUnavailable,
};

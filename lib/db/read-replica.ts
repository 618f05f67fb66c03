/**
 * Routes reads to a replica while it answers and is close enough behind, to the primary otherwise. The replica's
 * queries pass through its own breaker, so a dead replica costs nothing once the breaker opens.
 */
import type { Logger } from "../log/logger.ts";
import type { Breaker } from "../resilience/breaker.ts";
import type { Db } from "./database.ts";
import { measureReplicaLag, type ReplicaLagSample } from "./replica-lag.ts";

export interface ReadRoutingOptions {
  /** Replay lag past which reads go to the primary (DATABASE_READ_MAX_LAG_MS). @default 1000 */
  maxLagMs: number;
  /** How long one lag sample decides where reads go before the next read measures again. @default 250 */
  lagSampleMs: number;
  /** Epoch milliseconds; tests move it instead of sleeping. @default Date.now */
  now: () => number;
}

export const DEFAULT_READ_ROUTING: ReadRoutingOptions = { maxLagMs: 1_000, lagSampleMs: 250, now: Date.now };

/** The replica's handle, its queries already behind `breaker`. */
export interface ReplicaConnection {
  db: Db;
  breaker: Breaker;
}

type Route = "replica" | "lagging" | "failing";

export type ReadRouter = <T>(query: (db: Db) => Promise<T>) => Promise<T>;

export function createReadRouter(
  primary: Db,
  replica: ReplicaConnection | undefined,
  logger: Logger,
  options: Partial<ReadRoutingOptions> = {},
): ReadRouter {
  if (replica === undefined) return (query) => query(primary);
  const { maxLagMs, lagSampleMs, now } = { ...DEFAULT_READ_ROUTING, ...options };
  let route: Route = "replica";
  let sampledAt = Number.NEGATIVE_INFINITY;
  let sampling: Promise<void> | undefined;

  // Logged once per change, not per read.
  const moveTo = (next: Route, sample: ReplicaLagSample) => {
    if (next === route) return;
    const previous = route;
    route = next;
    if (next === "replica") logger.info("read replica serving reads again", { after: previous, lagMs: sample.lagMs });
    else if (next === "lagging")
      logger.warn("read replica lagging, reading from the primary", {
        lagMs: sample.lagMs === undefined ? "unknown" : Math.round(sample.lagMs),
        behindBytes: sample.behindBytes,
        maxLagMs,
      });
    else logger.warn("read replica failed, reading from the primary", { error: sample.error });
  };

  const sample = async () => {
    const measured = await measureReplicaLag(replica.db);
    sampledAt = now();
    if (measured.error !== undefined) moveTo("failing", measured);
    else moveTo(measured.lagMs !== undefined && measured.lagMs <= maxLagMs ? "replica" : "lagging", measured);
  };

  // One sample in flight at a time: concurrent reads wait for it rather than each measuring.
  const currentRoute = async (): Promise<Route> => {
    if (now() - sampledAt >= lagSampleMs) {
      sampling ??= sample().finally(() => {
        sampling = undefined;
      });
      await sampling;
    }
    return route;
  };

  return async (query) => {
    if ((await currentRoute()) !== "replica") return query(primary);
    try {
      return await query(replica.db);
    } catch (error) {
      // Until the next sample: the breaker, not this flag, keeps a dead replica from being tried for long.
      moveTo("failing", { lagMs: undefined, behindBytes: undefined, error });
      return query(primary);
    }
  };
}

/**
 * Readiness: the database and the store must answer within a deadline. Results are cached briefly and
 * concurrent checks share one probe, so a load balancer polling hard cannot turn readiness into load.
 */
import type { Runtime } from "../runtime/runtime.ts";
import { FallbackStore } from "../store/fallback-store.ts";

export interface DependencyStatus {
  status: "up" | "down";
  latencyMs: number;
  driver: string;
  error?: string;
  breaker?: string;
  fallback?: "in-process";
}

export interface ReadinessReport {
  status: "ready" | "not_ready" | "shutting_down";
  checks: { database: DependencyStatus; store: DependencyStatus };
}

export interface ReadinessOptions {
  cacheMs: number;
  dependencyTimeoutMs: number;
}

export const DEFAULT_READINESS_OPTIONS: ReadinessOptions = { cacheMs: 500, dependencyTimeoutMs: 400 };

async function probe(driver: string, check: (signal: AbortSignal) => Promise<void>, timeoutMs: number): Promise<DependencyStatus> {
  const started = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  const deadline = new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new Error(`no answer within ${timeoutMs} ms`))));
  const latency = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    await Promise.race([check(signal), deadline]);
    return { status: "up", latencyMs: latency(), driver };
  } catch (error) {
    // Only the error's class of failure is reported: driver messages can include hosts and users.
    const message = error instanceof Error && error.message.startsWith("no answer within") ? error.message : "unreachable";
    return { status: "down", latencyMs: latency(), driver, error: message };
  }
}

export function createReadinessCheck(runtime: Runtime, options: Partial<ReadinessOptions> = {}) {
  const { cacheMs, dependencyTimeoutMs } = { ...DEFAULT_READINESS_OPTIONS, ...options };
  const { db, store, lifecycle } = runtime;
  let cached: { report: ReadinessReport; at: number } | undefined;
  let pending: Promise<ReadinessReport> | undefined;

  const checkStore = async (): Promise<DependencyStatus> => {
    if (!(store instanceof FallbackStore)) return probe(store.kind, () => store.ping(), dependencyTimeoutMs);
    const status = await probe(store.kind, () => store.pingPrimary(), dependencyTimeoutMs);
    const health = store.health();
    return { ...status, breaker: health.breaker, ...(status.status === "down" ? { fallback: "in-process" as const } : {}) };
  };

  const run = async (): Promise<ReadinessReport> => {
    const [databaseStatus, storeStatus] = await Promise.all([probe(db.driver, (signal) => db.ping(signal), dependencyTimeoutMs), checkStore()]);
    const database = db.breaker === undefined ? databaseStatus : { ...databaseStatus, breaker: db.breaker.state };
    const ready = database.status === "up" && storeStatus.status === "up";
    return { status: ready ? "ready" : "not_ready", checks: { database, store: storeStatus } };
  };

  return async (): Promise<ReadinessReport> => {
    const now = performance.now();
    let report: ReadinessReport;
    if (cached !== undefined && now - cached.at < cacheMs) report = cached.report;
    else {
      pending ??= run().finally(() => {
        pending = undefined;
      });
      report = await pending;
      cached = { report, at: performance.now() };
    }
    return lifecycle.shuttingDown ? { ...report, status: "shutting_down" } : report;
  };
}

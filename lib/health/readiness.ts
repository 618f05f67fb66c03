/**
 * Readiness: the database and the store must answer within a deadline, and the current signing key must
 * decrypt. Results are cached briefly and concurrent checks share one probe, so a load balancer polling
 * hard cannot turn readiness into load.
 */

import type { Runtime } from "../runtime/runtime.ts";
import { storageFor } from "../storage/runtime-storage.ts";
import { FallbackStore } from "../store/fallback-store.ts";

export interface DependencyStatus {
  status: "up" | "down";
  latencyMs: number;
  driver: string;
  error?: string;
  breaker?: string;
  fallback?: "in-process";
}

export interface SigningKeyStatus {
  /** `unknown`: the ring did not load in time; the database check reports why, and readiness follows it. */
  status: "up" | "down" | "unknown";
  kid?: string;
  error?: string;
}

export interface ReadinessReport {
  status: "ready" | "not_ready" | "shutting_down";
  checks: {
    database: DependencyStatus;
    store: DependencyStatus;
    signingKeys: SigningKeyStatus;
    /** Present when object storage is configured. */
    storage?: DependencyStatus;
  };
}

export interface ReadinessOptions {
  cacheMs: number;
  dependencyTimeoutMs: number;
  /**
   * The time in milliseconds a report's age is measured by; tests move it instead of sleeping. @default performance.now
   */
  now: () => number;
}

export const DEFAULT_READINESS_OPTIONS: ReadinessOptions = {
  cacheMs: 500,
  dependencyTimeoutMs: 400,
  now: () => performance.now(),
};

function withDeadline<T>(check: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  const deadline = new Promise<never>((_, reject) =>
    signal.addEventListener("abort", () => reject(new Error(`no answer within ${timeoutMs} ms`))),
  );
  return Promise.race([check(signal), deadline]);
}

async function probe(
  driver: string,
  check: (signal: AbortSignal) => Promise<void>,
  timeoutMs: number,
): Promise<DependencyStatus> {
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    await withDeadline(check, timeoutMs);
    return { status: "up", latencyMs: latency(), driver };
  } catch (error) {
    // Only the error's class of failure is reported: driver messages can include hosts and users.
    const message =
      error instanceof Error && error.message.startsWith("no answer within") ? error.message : "unreachable";
    return { status: "down", latencyMs: latency(), driver, error: message };
  }
}

export function createReadinessCheck(runtime: Runtime, options: Partial<ReadinessOptions> = {}) {
  const { cacheMs, dependencyTimeoutMs, now: clock } = { ...DEFAULT_READINESS_OPTIONS, ...options };
  const { db, store, lifecycle } = runtime;
  let cached: { report: ReadinessReport; at: number } | undefined;
  let pending: Promise<ReadinessReport> | undefined;

  const checkStore = async (): Promise<DependencyStatus> => {
    if (!(store instanceof FallbackStore)) return probe(store.kind, () => store.ping(), dependencyTimeoutMs);
    const status = await probe(store.kind, () => store.pingPrimary(), dependencyTimeoutMs);
    const health = store.health();
    return {
      ...status,
      breaker: health.breaker,
      ...(status.status === "down" ? { fallback: "in-process" as const } : {}),
    };
  };

  // The ring as the provider holds it: loaded (and decrypted) at most once per its TTL, not once per probe.
  const checkSigningKeys = async (): Promise<SigningKeyStatus> => {
    try {
      const ring = await withDeadline(() => runtime.services.identity.keyRing.get(), dependencyTimeoutMs);
      const { signingKid: kid, signingKeyProblem: error } = ring;
      return error === undefined ? { status: "up", kid } : { status: "down", kid, error };
    } catch {
      return { status: "unknown", error: "the signing keys could not be loaded" };
    }
  };

  const checkStorage = async (): Promise<DependencyStatus | undefined> => {
    if (runtime.config.storage.driver === "none") return undefined;
    const storage = await storageFor(runtime);
    return storage === undefined
      ? undefined
      : probe(storage.kind, (signal) => storage.ping(signal), dependencyTimeoutMs);
  };

  const run = async (): Promise<ReadinessReport> => {
    const [databaseStatus, storeStatus, signingKeys, storage] = await Promise.all([
      probe(db.driver, (signal) => db.ping(signal), dependencyTimeoutMs),
      checkStore(),
      checkSigningKeys(),
      checkStorage(),
    ]);
    const database = db.breaker === undefined ? databaseStatus : { ...databaseStatus, breaker: db.breaker.state };
    const ready =
      database.status === "up" &&
      storeStatus.status === "up" &&
      signingKeys.status !== "down" &&
      storage?.status !== "down";
    const checks = { database, store: storeStatus, signingKeys, ...(storage === undefined ? {} : { storage }) };
    return { status: ready ? "ready" : "not_ready", checks };
  };

  return async (): Promise<ReadinessReport> => {
    const now = clock();
    let report: ReadinessReport;
    if (cached !== undefined && now - cached.at < cacheMs) report = cached.report;
    else {
      pending ??= run().finally(() => {
        pending = undefined;
      });
      report = await pending;
      cached = { report, at: clock() };
    }
    return lifecycle.shuttingDown ? { ...report, status: "shutting_down" } : report;
  };
}

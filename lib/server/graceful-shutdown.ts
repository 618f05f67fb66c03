/**
 * Graceful shutdown of a long-lived server:
 *
 * 1. New requests are answered 503 SHUTTING_DOWN and every answer carries `Connection: close`.
 * 2. The listener stays open `LISTENER_GRACE_MS` (at most the drain), so keep-alive clients sending in
 *    that window get an answer, not a reset, then it closes.
 * 3. In-flight requests finish up to `SHUTDOWN_DRAIN_MS`; the rest are abandoned (rolled back, 503).
 * 4. The answers are written and the database closed within `CLOSE_BOUND_MS`: the process exits at most
 *    `SHUTDOWN_DRAIN_MS + CLOSE_BOUND_MS` after the signal, whatever a query still waits on.
 */
import type { RampartApp } from "../http/app.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import type { Runtime } from "../runtime/runtime.ts";

export const LISTENER_GRACE_MS = 500;
export const CLOSE_BOUND_MS = 2_000;
/** Of CLOSE_BOUND_MS, how long a request abandoned mid-commit may take to give its own answer. */
const COMMIT_GRACE_MS = 1_000;

export interface ShutdownTarget {
  app: RampartApp;
  runtime: Runtime;
  /** Closes the listener; resolves when its connections are closed. */
  stopListening(): Promise<void>;
  beforeClose?(): void;
}

// Resolves with the work, or with undefined once `ms` have passed without it.
async function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function shutDown(target: ShutdownTarget, reason: string): Promise<void> {
  const { app, runtime } = target;
  const { logger } = runtime;
  const drainMs = runtime.config.shutdownDrainMs;
  const closeBy = performance.now() + drainMs + CLOSE_BOUND_MS;
  logger.info("shutting down", { reason, inFlight: app.inFlight, deadlineMs: drainMs });
  const draining = app.drain(drainMs, COMMIT_GRACE_MS);
  await Bun.sleep(Math.min(LISTENER_GRACE_MS, drainMs));
  const listenerClosed = target.stopListening();
  const { drained, abandoned } = await draining;
  await within(closeBy - performance.now(), listenerClosed);
  target.beforeClose?.();
  // The deltas since the last flush would be lost with the process; the store's own deadline bounds this.
  await within(closeBy - performance.now(), metricsRegistry().flush(runtime.store, runtime.now(), true));
  const closed = await within(
    closeBy - performance.now(),
    runtime.db.close().then(() => true),
  );
  if (closed === undefined)
    logger.warn("database not closed within the bound; its open transactions roll back on exit");
  if (drained) logger.info("shutdown complete");
  else logger.warn("shutdown deadline passed with requests still running", { abandoned });
}

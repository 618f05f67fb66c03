/**
 * Graceful shutdown of a long-lived server: stop accepting, let in-flight requests finish up to the
 * deadline, then close the database.
 */
import type { RampartApp } from "../http/app.ts";
import type { Runtime } from "../runtime/runtime.ts";

export interface ShutdownTarget {
  app: RampartApp;
  runtime: Runtime;
  stopListening(): void;
  beforeClose?(): void;
}

export async function shutDown(target: ShutdownTarget, reason: string): Promise<void> {
  const { app, runtime } = target;
  const { logger } = runtime;
  logger.info("shutting down", { reason, inFlight: app.inFlight, deadlineMs: runtime.config.shutdownDrainMs });
  const draining = app.drain(runtime.config.shutdownDrainMs);
  target.stopListening();
  const { drained, abandoned } = await draining;
  target.beforeClose?.();
  await runtime.db.close();
  if (drained) logger.info("shutdown complete");
  else logger.warn("shutdown deadline passed with requests still running", { abandoned });
}

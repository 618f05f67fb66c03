/**
 * Hands background work to the platform so a serverless instance is not frozen before it finishes:
 * Vercel exposes `waitUntil` through its request context; elsewhere the promise simply runs on.
 */
import type { Logger } from "../log/logger.ts";

interface PlatformContext {
  get?(): { waitUntil?(promise: Promise<unknown>): void } | undefined;
}

const VERCEL_REQUEST_CONTEXT = Symbol.for("@vercel/request-context");

export function createWaitUntil(logger: Logger): (pending: Promise<unknown>) => void {
  return (pending) => {
    const guarded = pending.catch((error: unknown) => logger.warn("background work failed", { error }));
    const platform = (globalThis as Record<symbol, PlatformContext | undefined>)[VERCEL_REQUEST_CONTEXT];
    platform?.get?.()?.waitUntil?.(guarded);
  };
}

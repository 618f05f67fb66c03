/**
 * Runs a call to a dependency (database, store, outbound HTTP) on behalf of a request: the call is
 * named in the request's pending set while it runs, so a passed deadline can say what it was waiting
 * on, and a call slower than `slowMs` is logged with the request id.
 */
import { requestContextOf } from "../core/request-context.ts";
import type { Logger } from "../log/logger.ts";

export const DEFAULT_SLOW_CALL_MS = 500;

export async function callDependency<T>(
  request: Request,
  logger: Logger,
  dependency: string,
  call: (signal: AbortSignal) => Promise<T>,
  slowMs = DEFAULT_SLOW_CALL_MS,
): Promise<T> {
  const context = requestContextOf(request);
  const started = performance.now();
  context.pending.add(dependency);
  try {
    return await call(context.signal);
  } finally {
    context.pending.delete(dependency);
    const durationMs = performance.now() - started;
    if (durationMs > slowMs)
      logger.warn("slow dependency call", {
        requestId: context.requestId,
        route: context.route,
        dependency,
        durationMs: Math.round(durationMs),
      });
  }
}

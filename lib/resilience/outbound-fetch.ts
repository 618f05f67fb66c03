/**
 * Outbound HTTP with a circuit breaker per host, a deadline, and retries with exponential backoff and
 * full jitter for idempotent methods only (a retried POST could charge a card twice).
 */
import type { Logger } from "../log/logger.ts";
import { currentTrace, withTraceHeaders } from "../trace/trace-context.ts";
import { type Breaker, type BreakerOptions, createBreaker } from "./breaker.ts";

export interface OutboundFetchOptions {
  timeoutMs: number;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  breaker: Partial<BreakerOptions>;
  /**
   * A retryable status (5xx, 429…) on the last attempt is thrown as OutboundStatusError, counting against the
   * breaker, instead of returned: for a client with no use for the failed answer (a purge, a notification).
   * @default false
   */
  throwOnRetryableStatus: boolean;
}

/** A call's options; `idempotent` lets a POST be retried when repeating it is harmless (a cache purge). */
export type OutboundRequestInit = RequestInit & { signal?: AbortSignal; idempotent?: boolean };

export const DEFAULT_OUTBOUND_FETCH_OPTIONS: OutboundFetchOptions = {
  timeoutMs: 5_000,
  retries: 2,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  breaker: {},
  throwOnRetryableStatus: false,
};

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export class OutboundStatusError extends Error {
  override name = "OutboundStatusError";
  constructor(readonly status: number) {
    super(`upstream answered ${status}`);
  }
}

export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
}

export function createOutboundFetch(logger: Logger, options: Partial<OutboundFetchOptions> = {}) {
  const settings = { ...DEFAULT_OUTBOUND_FETCH_OPTIONS, ...options };
  const breakers = new Map<string, Breaker>();
  const breakerFor = (host: string) => {
    let breaker = breakers.get(host);
    if (breaker === undefined) {
      breaker = createBreaker(`http:${host}`, logger, settings.breaker);
      breakers.set(host, breaker);
    }
    return breaker;
  };

  return async (url: string, { idempotent, ...init }: OutboundRequestInit = {}): Promise<Response> => {
    const method = (init.method ?? "GET").toUpperCase();
    const attempts = idempotent === true || IDEMPOTENT_METHODS.has(method) ? settings.retries + 1 : 1;
    const breaker = breakerFor(new URL(url).host);
    // The request or job this call is made for becomes the receiver's parent span.
    const trace = currentTrace();
    const headers = trace === undefined ? init.headers : withTraceHeaders(init.headers, trace);
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0)
        await new Promise((resolve) =>
          setTimeout(resolve, backoffDelay(attempt - 1, settings.baseDelayMs, settings.maxDelayMs)),
        );
      const signals = [AbortSignal.timeout(settings.timeoutMs), ...(init.signal === undefined ? [] : [init.signal])];
      try {
        return await breaker.execute(async () => {
          const response = await fetch(url, { ...init, headers, signal: AbortSignal.any(signals) });
          // Server errors count against the breaker; the body is dropped because the caller gets an error.
          if (RETRYABLE_STATUS.has(response.status) && (attempt < attempts - 1 || settings.throwOnRetryableStatus)) {
            await response.body?.cancel();
            throw new OutboundStatusError(response.status);
          }
          return response;
        });
      } catch (error) {
        lastError = error;
        if (init.signal?.aborted || breaker.state === "open") break;
      }
    }
    throw lastError;
  };
}

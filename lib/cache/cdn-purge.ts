/**
 * Purges tags from the CDN in front (Vercel's invalidate-by-tags: entries are served stale and refreshed, not
 * dropped), through the outbound client with its breaker and retries. Called after a write has committed, so it
 * never throws: a failed purge is logged and counted, and the CDN entry then lives out its TTL.
 */
import type { CdnPurgeConfig } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { describeError } from "../log/redact.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import type { BreakerOptions } from "../resilience/breaker.ts";
import { createOutboundFetch } from "../resilience/outbound-fetch.ts";
import { cdnTag } from "./cdn-headers.ts";

export interface CdnPurgeOptions {
  /**
   * Tags per request: Vercel takes 1 to 16 (and 256 characters each, which cdnTag keeps well under).
   * @default 16
   */
  batchSize: number;
  /** @default 5000 */
  timeoutMs: number;
  /** Retries after a failed attempt; invalidating a tag twice is harmless, so the POST is retried. @default 2 */
  retries: number;
  /** @default 100 */
  baseDelayMs: number;
  breaker: Partial<BreakerOptions>;
}

export const DEFAULT_CDN_PURGE_OPTIONS: CdnPurgeOptions = {
  batchSize: 16,
  timeoutMs: 5_000,
  retries: 2,
  baseDelayMs: 100,
  breaker: {},
};

/** Tags the CDN confirmed, and tags whose request failed (after its retries, or with the breaker open). */
export interface CdnPurgeResult {
  purged: number;
  failed: number;
}

export interface CdnPurger {
  readonly provider: CdnPurgeConfig["provider"];
  /** Never throws. */
  purgeTags(tags: readonly string[]): Promise<CdnPurgeResult>;
}

/**
 * @example
 * const cdn = createCdnPurger(config.cdnPurge, logger);
 * runtime.waitUntil(cdn.purgeTags([`org:${orgId}`, "orgs"]));
 */
export function createCdnPurger(
  config: CdnPurgeConfig,
  logger: Logger,
  options: Partial<CdnPurgeOptions> = {},
): CdnPurger {
  if (config.provider === "none")
    return { provider: "none", purgeTags: () => Promise.resolve({ purged: 0, failed: 0 }) };
  const { batchSize, timeoutMs, retries, baseDelayMs, breaker } = { ...DEFAULT_CDN_PURGE_OPTIONS, ...options };
  const send = createOutboundFetch(logger, { timeoutMs, retries, baseDelayMs, breaker, throwOnRetryableStatus: true });
  const url = new URL(config.url);
  url.searchParams.set("projectIdOrName", config.projectId);
  if (config.teamId !== undefined) url.searchParams.set("teamId", config.teamId);
  const endpoint = url.href;
  const headers = { authorization: `Bearer ${config.token}`, "content-type": "application/json" };
  const metrics = metricsRegistry();
  const [purgedCount, failedCount] = [
    metrics.series("cdn_purge", { provider: "vercel", outcome: "purged" }),
    metrics.series("cdn_purge", { provider: "vercel", outcome: "failed" }),
  ];

  const purgeBatch = async (tags: string[]): Promise<boolean> => {
    try {
      const response = await send(endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify({ tags }),
        idempotent: true,
      });
      await response.body?.cancel();
      if (response.ok) return true;
      // A 4xx is ours to fix (a revoked token, a wrong project): retrying would not help.
      logger.error("cdn purge refused", { provider: "vercel", status: response.status, tags: tags.length });
    } catch (error) {
      // The URL carries no secret (the token is in a header); describeError keeps neither headers nor bodies.
      logger.warn("cdn purge failed", {
        provider: "vercel",
        tags: tags.length,
        error: error instanceof Error ? describeError(error) : String(error),
      });
    }
    return false;
  };

  return {
    provider: "vercel",
    async purgeTags(tags) {
      const unique = [...new Set(tags.map(cdnTag))];
      const result: CdnPurgeResult = { purged: 0, failed: 0 };
      for (let start = 0; start < unique.length; start += batchSize) {
        const batch = unique.slice(start, start + batchSize);
        const ok = await purgeBatch(batch);
        if (ok) result.purged += batch.length;
        else result.failed += batch.length;
        (ok ? purgedCount : failedCount).add(batch.length);
      }
      return result;
    },
  };
}

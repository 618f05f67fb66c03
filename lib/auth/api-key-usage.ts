/**
 * Records when each API key was last used without a write per request: at most one background UPDATE
 * per key per `flushIntervalMs` on each instance, so `last_used_at` trails the true last use by less
 * than that interval.
 */
import { eq, sql } from "drizzle-orm";
import { createWaitUntil } from "../core/wait-until.ts";
import type { Db } from "../db/database.ts";
import { apiKeys } from "../db/schema/index.ts";
import type { Logger } from "../log/logger.ts";

export interface ApiKeyUsageOptions {
  flushIntervalMs: number;
  /** Keys remembered; past it the memory is dropped, which only costs one early write per key. */
  maxTrackedKeys: number;
}

export const DEFAULT_API_KEY_USAGE_OPTIONS: ApiKeyUsageOptions = { flushIntervalMs: 60_000, maxTrackedKeys: 50_000 };

export interface ApiKeyUsage {
  record(keyId: string, at?: number): void;
  /** Resolves when the writes started so far have finished (tests, shutdown). */
  settled(): Promise<void>;
}

export function createApiKeyUsage(db: Db, logger: Logger, options: Partial<ApiKeyUsageOptions> = {}): ApiKeyUsage {
  const { flushIntervalMs, maxTrackedKeys } = { ...DEFAULT_API_KEY_USAGE_OPTIONS, ...options };
  const waitUntil = createWaitUntil(logger);
  const writtenAt = new Map<string, number>();
  const inFlight = new Set<Promise<unknown>>();
  return {
    record(keyId, at = Date.now()) {
      const last = writtenAt.get(keyId);
      if (last !== undefined && at - last < flushIntervalMs) return;
      if (writtenAt.size >= maxTrackedKeys) writtenAt.clear();
      writtenAt.set(keyId, at);
      // GREATEST: another instance may already have written a later time; never move it back.
      const write = db
        .update(apiKeys)
        .set({ lastUsedAt: sql`greatest(${apiKeys.lastUsedAt}, ${new Date(at).toISOString()}::timestamptz)` })
        .where(eq(apiKeys.id, keyId))
        .then(() => undefined);
      inFlight.add(write);
      const forget = () => inFlight.delete(write);
      write.then(forget, forget);
      // A failed write is logged by waitUntil; the next use after the interval tries again.
      waitUntil(write);
    },
    async settled() {
      await Promise.allSettled([...inFlight]);
    },
  };
}

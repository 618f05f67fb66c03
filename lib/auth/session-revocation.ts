/**
 * Revoked sessions, shared through the store so every instance refuses their access tokens. An entry
 * lives as long as an access token can, so the list never grows past the tokens still in circulation.
 * A "not revoked" answer is reused for `negativeCacheMs`: that, plus the store's own replication, is the
 * documented bound on how long a revoked session's token can still work.
 */
import type { Store } from "../store/store.ts";

export const REVOKED_SESSION_PREFIX = "rampart:revoked-session:";
export const DEFAULT_NEGATIVE_CACHE_MS = 5_000;
const MAX_NEGATIVE_ENTRIES = 50_000;

export interface SessionRevocationOptions {
  /** How long a "not revoked" answer is reused on this instance. */
  negativeCacheMs: number;
  /** The time in milliseconds a "not revoked" answer ages by; tests move it instead of sleeping. @default Date.now */
  now: () => number;
}

export const DEFAULT_SESSION_REVOCATION: SessionRevocationOptions = {
  negativeCacheMs: DEFAULT_NEGATIVE_CACHE_MS,
  now: Date.now,
};

export interface SessionRevocations {
  revoke(sessionId: string): Promise<void>;
  /** Answers from memory, without a promise, while a "not revoked" answer is fresh. */
  isRevoked(sessionId: string): boolean | Promise<boolean>;
}

export function createSessionRevocations(
  store: Store,
  entryTtlMs: number,
  options: Partial<SessionRevocationOptions> = {},
): SessionRevocations {
  const { negativeCacheMs, now: clock } = { ...DEFAULT_SESSION_REVOCATION, ...options };
  const checkedAt = new Map<string, number>();
  return {
    async revoke(sessionId) {
      checkedAt.delete(sessionId);
      await store.set(`${REVOKED_SESSION_PREFIX}${sessionId}`, "1", { ttlMs: entryTtlMs });
    },
    isRevoked(sessionId) {
      const now = clock();
      const seen = checkedAt.get(sessionId);
      if (seen !== undefined && now - seen < negativeCacheMs) return false;
      return store.get(`${REVOKED_SESSION_PREFIX}${sessionId}`).then((marker) => {
        if (marker !== null) return true;
        if (checkedAt.size >= MAX_NEGATIVE_ENTRIES) checkedAt.clear();
        checkedAt.set(sessionId, now);
        return false;
      });
    },
  };
}

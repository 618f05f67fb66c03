/**
 * Verifies API keys against an in-process cache, so a warm key costs no database round trip. Revoking or
 * rotating a key writes a "dead at" marker to the shared store; each instance reads a cached key's marker
 * at most once per `revocationCheckMs`, which bounds how long a key revoked elsewhere still works.
 */
import { and, eq } from "drizzle-orm";
import { setBounded } from "../collections/bounded-map.ts";
import type { ApiKeyCaller, ApiKeyVerifier, LookupGate } from "../core/caller.ts";
import type { Db } from "../db/database.ts";
import { apiKeys, keyIdentities } from "../db/schema/index.ts";
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
import { type ApiKeyFormat, createApiKeyFormat } from "./api-key-format.ts";
import { type ApiKeyUsage, type ApiKeyUsageOptions, createApiKeyUsage } from "./api-key-usage.ts";
import { identityCreditsOf, identityRulesOf } from "./identity-limits.ts";
import { createUsageCredits, creditTermsOf, type UsageCredits, type UsageCreditsOptions } from "./usage-credits.ts";

export interface ApiKeyVerifierOptions {
  /** How long a key's row is trusted before it is read again: the bound when the store cannot carry a marker. */
  cacheTtlMs: number;
  /** How long "no marker" is believed for a cached key: the bound for a revocation on another instance. */
  revocationCheckMs: number;
  /** How long an unknown or dead key's hash is remembered, so repeating it costs no query. */
  unknownTtlMs: number;
  /** Entries per cache (live keys, unknown keys); the oldest go first. */
  maxEntries: number;
  usage: Partial<ApiKeyUsageOptions>;
  credits: Partial<UsageCreditsOptions>;
  /**
   * The time in epoch milliseconds the caches' ages are measured by; tests move it instead of sleeping.
   * @default Date.now
   */
  now: () => number;
}

export const DEFAULT_API_KEY_VERIFIER_OPTIONS: ApiKeyVerifierOptions = {
  cacheTtlMs: 30_000,
  revocationCheckMs: 2_000,
  unknownTtlMs: 10_000,
  maxEntries: 10_000,
  usage: {},
  credits: {},
  now: Date.now,
};

export const API_KEY_DEAD_AT_PREFIX = "rampart:api-key-dead-at:";

export interface ApiKeyService extends ApiKeyVerifier {
  readonly format: ApiKeyFormat;
  /** Usage credits, spent by the guard chain and the verify endpoint. */
  readonly credits: UsageCredits;
  /** The key stops working at `deadAt`: on this instance at once, on the others within `revocationCheckMs`. */
  invalidate(keyId: string, deadAt: Date): Promise<void>;
  /**
   * The key's row changed (enabled again, new metadata or credits): reloaded on this instance at its next use, on
   * the others within `cacheTtlMs`. `revived` also removes the marker a disabling left.
   */
  forget(keyId: string, options?: { revived?: boolean }): Promise<void>;
  /** Like `verify`, with the reason a key is refused; reads the row again for a cached key that has just died. */
  inspect(presented: string): Promise<KeyInspection>;
  /** Resolves when pending last-used and credit writes have finished. */
  settled(): Promise<void>;
}

export interface ApiKeyVerifierDeps {
  db: Db;
  store: Store;
  logger: Logger;
  prefix: string;
}

/** Why a key is not valid, as the verify endpoint tells its organization. */
export type KeyRefusal = "NOT_FOUND" | "DISABLED" | "EXPIRED";

/** A key's standing, for the verify endpoint: its caller, or why not (with its org, for the owner alone). */
export type KeyInspection =
  | { code: "VALID"; caller: ApiKeyCaller }
  | { code: KeyRefusal; keyId?: string; orgId?: string };

interface DeadKey {
  at: number;
  code: KeyRefusal;
  keyId?: string;
  orgId?: string;
}

interface LiveKey {
  caller: ApiKeyCaller;
  /** Epoch ms at which the key stops working: its expiry, grace end or marker, whichever is first. */
  liveUntil: number;
  loadedAt: number;
  markerCheckedAt: number;
}

type Loaded = LiveKey | undefined;

export function createApiKeyVerifier(
  deps: ApiKeyVerifierDeps,
  options: Partial<ApiKeyVerifierOptions> = {},
): ApiKeyService {
  const {
    cacheTtlMs,
    revocationCheckMs,
    unknownTtlMs,
    maxEntries,
    usage: usageOptions,
    credits: creditOptions,
    now: clock,
  } = { ...DEFAULT_API_KEY_VERIFIER_OPTIONS, ...options };
  const { db, store } = deps;
  const format = createApiKeyFormat(deps.prefix);
  const usage: ApiKeyUsage = createApiKeyUsage(db, deps.logger, usageOptions);
  const credits = createUsageCredits({ db, store, logger: deps.logger }, creditOptions);
  // Outlives every cache entry loaded before the marker was written; after that the row itself says so.
  const markerTtlMs = 2 * cacheTtlMs + revocationCheckMs;
  const live = new Map<string, LiveKey>();
  const hashOfKeyId = new Map<string, string>();
  const dead = new Map<string, DeadKey>();
  const loading = new Map<string, Promise<Loaded>>();

  const load = async (hash: string, now: number): Promise<Loaded> => {
    const [row] = await db
      .select({
        id: apiKeys.id,
        orgId: apiKeys.orgId,
        scopes: apiKeys.scopes,
        rateLimitPerMinute: apiKeys.rateLimitPerMinute,
        expiresAt: apiKeys.expiresAt,
        graceEndsAt: apiKeys.graceEndsAt,
        revokedAt: apiKeys.revokedAt,
        creditsRemaining: apiKeys.creditsRemaining,
        creditsRefillAmount: apiKeys.creditsRefillAmount,
        creditsRefillInterval: apiKeys.creditsRefillInterval,
        creditsPeriod: apiKeys.creditsPeriod,
        creditsVersion: apiKeys.creditsVersion,
        enabled: apiKeys.enabled,
        meta: apiKeys.meta,
        externalId: apiKeys.externalId,
        identityId: keyIdentities.id,
        identityRateLimits: keyIdentities.rateLimits,
        identityCreditsRemaining: keyIdentities.creditsRemaining,
        identityCreditsRefillAmount: keyIdentities.creditsRefillAmount,
        identityCreditsRefillInterval: keyIdentities.creditsRefillInterval,
        identityCreditsPeriod: keyIdentities.creditsPeriod,
        identityCreditsVersion: keyIdentities.creditsVersion,
      })
      .from(apiKeys)
      .leftJoin(
        keyIdentities,
        and(eq(keyIdentities.orgId, apiKeys.orgId), eq(keyIdentities.externalId, apiKeys.externalId)),
      )
      .where(eq(apiKeys.keyHash, hash));
    const liveUntil = Math.min(row?.expiresAt?.getTime() ?? Infinity, row?.graceEndsAt?.getTime() ?? Infinity);
    const refusal: KeyRefusal | undefined =
      row === undefined || row.revokedAt !== null
        ? "NOT_FOUND"
        : !row.enabled
          ? "DISABLED"
          : liveUntil <= now
            ? "EXPIRED"
            : undefined;
    if (row === undefined || refusal !== undefined) {
      live.delete(hash);
      // A revoked key is as unknown as one never issued; only a disabled or expired one names its org.
      const owner = refusal === "NOT_FOUND" || row === undefined ? {} : { keyId: row.id, orgId: row.orgId };
      setBounded(dead, hash, { at: now, code: refusal ?? "NOT_FOUND", ...owner }, maxEntries);
      if (row !== undefined) setBounded(hashOfKeyId, row.id, hash, maxEntries);
      return undefined;
    }
    const identity =
      row.identityId === null
        ? undefined
        : { id: row.identityId, rateLimits: identityRulesOf(row.identityRateLimits ?? []) };
    const caller: ApiKeyCaller = {
      kind: "api_key",
      keyId: row.id,
      orgId: row.orgId,
      scopes: Object.freeze([...row.scopes]),
      rateLimitPerMinute: row.rateLimitPerMinute ?? undefined,
      // An identity's credits, when it has some, are shared by its keys in place of their own.
      credits:
        (row.identityId === null
          ? undefined
          : creditTermsOf({ kind: "identity", id: row.identityId }, identityCreditsOf(row))) ??
        creditTermsOf({ kind: "key", id: row.id }, row),
      meta: row.meta ?? undefined,
      externalId: row.externalId ?? undefined,
      identity,
    };
    // A fresh row already shows a committed revocation; one read just before it is caught by the marker
    // within revocationCheckMs, like any cached entry.
    const entry: LiveKey = { caller, liveUntil, loadedAt: now, markerCheckedAt: now };
    setBounded(live, hash, entry, maxEntries);
    setBounded(hashOfKeyId, row.id, hash, maxEntries);
    return entry;
  };

  // Concurrent first uses of one key (a cold instance under load) share a single query.
  const loadOnce = (hash: string, now: number): Promise<Loaded> => {
    let pending = loading.get(hash);
    if (pending === undefined) {
      pending = load(hash, now).finally(() => loading.delete(hash));
      loading.set(hash, pending);
    }
    return pending;
  };

  const checkMarker = async (entry: LiveKey, now: number): Promise<void> => {
    const deadAt = await store.get(`${API_KEY_DEAD_AT_PREFIX}${entry.caller.keyId}`);
    if (deadAt !== null) entry.liveUntil = Math.min(entry.liveUntil, Number(deadAt));
    entry.markerCheckedAt = now;
  };

  const answer = (entry: LiveKey, now: number): ApiKeyCaller | undefined => {
    if (now >= entry.liveUntil) return undefined;
    usage.record(entry.caller.keyId, now);
    return entry.caller;
  };

  // Only a new query is gated: concurrent first uses of one key share the query already running.
  const loadThrough = async (
    hash: string,
    now: number,
    gate: LookupGate | undefined,
    client: string,
  ): Promise<Loaded> => {
    if (gate === undefined || loading.has(hash)) return loadOnce(hash, now);
    await gate.acquire(client);
    try {
      // While this request waited its turn, another may have looked the same key up.
      const loaded = live.get(hash);
      if (loaded !== undefined && now - loaded.loadedAt < cacheTtlMs) return loaded;
      const known = dead.get(hash);
      if (known !== undefined && now - known.at < unknownTtlMs) return undefined;
      return await loadOnce(hash, now);
    } finally {
      gate.release(client);
    }
  };

  const verifyCold = async (
    presented: string,
    hash: string,
    cached: LiveKey | undefined,
    now: number,
    gate: LookupGate | undefined,
    client: string,
  ): Promise<ApiKeyCaller | undefined> => {
    let entry = cached;
    if (entry === undefined || now - entry.loadedAt >= cacheTtlMs) {
      // Checked only off the warm path: a cached hash was a stored key's, so its checksum was right.
      if (!format.hasValidChecksum(presented)) return undefined;
      const seen = dead.get(hash);
      if (seen !== undefined && now - seen.at < unknownTtlMs) return undefined;
      entry = await loadThrough(hash, now, gate, client);
      if (entry === undefined) return undefined;
    }
    if (now - entry.markerCheckedAt >= revocationCheckMs) await checkMarker(entry, now);
    return answer(entry, now);
  };

  return {
    format,
    isApiKey: format.isApiKey,
    verify(presented, gate, client = "unknown") {
      // Unknown, malformed, bad checksum, revoked, expired and past grace all answer the same undefined.
      if (!format.hasShape(presented)) return undefined;
      const hash = format.hash(presented);
      const now = clock();
      const entry = live.get(hash);
      // The warm path answers without a promise; loading the row or reading the marker goes async.
      if (entry !== undefined && now - entry.loadedAt < cacheTtlMs && now - entry.markerCheckedAt < revocationCheckMs)
        return answer(entry, now);
      return verifyCold(presented, hash, entry, now, gate, client);
    },
    async inspect(presented) {
      if (!format.hasShape(presented) || !format.hasValidChecksum(presented)) return { code: "NOT_FOUND" };
      const hash = format.hash(presented);
      const now = clock();
      let entry = live.get(hash);
      if (entry !== undefined && now - entry.markerCheckedAt >= revocationCheckMs) await checkMarker(entry, now);
      // A key that died while cached (expired, revoked, disabled) is read again once, for its reason.
      if (entry !== undefined && (now >= entry.liveUntil || now - entry.loadedAt >= cacheTtlMs)) {
        live.delete(hash);
        entry = undefined;
      }
      if (entry === undefined) {
        const seen = dead.get(hash);
        if (seen === undefined || now - seen.at >= unknownTtlMs) entry = await loadOnce(hash, now);
        if (entry === undefined) {
          const { code, keyId, orgId } = dead.get(hash) ?? { code: "NOT_FOUND" as const };
          return { code, keyId, orgId };
        }
      }
      usage.record(entry.caller.keyId, now);
      return { code: "VALID", caller: entry.caller };
    },
    async forget(keyId, { revived = false } = {}) {
      const hash = hashOfKeyId.get(keyId);
      if (hash !== undefined) {
        live.delete(hash);
        dead.delete(hash);
      }
      if (revived) await store.del(`${API_KEY_DEAD_AT_PREFIX}${keyId}`);
    },
    async invalidate(keyId, deadAt) {
      const at = deadAt.getTime();
      const hash = hashOfKeyId.get(keyId);
      const entry = hash === undefined ? undefined : live.get(hash);
      if (entry !== undefined) entry.liveUntil = Math.min(entry.liveUntil, at);
      await store.set(`${API_KEY_DEAD_AT_PREFIX}${keyId}`, String(at), { ttlMs: markerTtlMs });
    },
    credits,
    settled: async () => {
      await Promise.all([usage.settled(), credits.settled()]);
    },
  };
}

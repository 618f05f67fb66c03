/**
 * Keeps the signing key ring in memory, reloading it every `ttlMs` and, at most once per
 * `unknownKidRefreshMs`, when a token names a kid we have not seen (another instance rotated).
 */
import type { Encryptor } from "../crypto/envelope-encryption.ts";
import type { Db } from "../db/database.ts";
import { ensureSigningKeys, type KeyRing, loadKeyRing } from "./signing-keys.ts";

export interface KeyRingProviderOptions {
  ttlMs: number;
  unknownKidRefreshMs: number;
  /**
   * The time in milliseconds the ring's age is measured by; tests move it instead of sleeping. @default performance.now
   */
  now: () => number;
}

export const DEFAULT_KEY_RING_OPTIONS: KeyRingProviderOptions = {
  ttlMs: 60_000,
  unknownKidRefreshMs: 5_000,
  now: () => performance.now(),
};

export interface KeyRingProvider {
  get(): Promise<KeyRing>;
  /** The loaded ring while it is fresh, without a promise; undefined when `get()` would load. */
  current(): KeyRing | undefined;
  /** The ring, reloaded first if `kid` is unknown and a reload is allowed now. */
  forKid(kid: string): Promise<KeyRing>;
  invalidate(): void;
}

export function createKeyRingProvider(
  db: Db,
  encryptor: Encryptor,
  options: Partial<KeyRingProviderOptions> = {},
): KeyRingProvider {
  const { ttlMs, unknownKidRefreshMs, now } = { ...DEFAULT_KEY_RING_OPTIONS, ...options };
  // Ages count from when a load starts, so callers arriving while it runs share it instead of starting more.
  let latest: { ring: Promise<KeyRing>; startedAt: number } | undefined;
  let loaded: { ring: KeyRing; attempt: object } | undefined;
  let ensured = false;
  const load = (): Promise<KeyRing> => {
    const ring = (async () => {
      if (!ensured) {
        await ensureSigningKeys(db, encryptor);
        ensured = true;
      }
      return loadKeyRing(db, encryptor);
    })();
    const attempt = { ring, startedAt: now() };
    latest = attempt;
    ring.then(
      (value) => {
        if (latest === attempt) loaded = { ring: value, attempt };
      },
      () => {},
    );
    // Awaiters still receive the error; this only makes the next caller retry instead of reusing the failure.
    ring.catch(() => {
      if (latest === attempt) latest = undefined;
    });
    return ring;
  };
  const provider: KeyRingProvider = {
    get() {
      if (latest === undefined || now() - latest.startedAt > ttlMs) return load();
      return latest.ring;
    },
    current() {
      if (latest === undefined || loaded === undefined || loaded.attempt !== latest || now() - latest.startedAt > ttlMs)
        return undefined;
      return loaded.ring;
    },
    async forKid(kid) {
      const ring = await provider.get();
      if (ring.verificationKeys.has(kid)) return ring;
      // A load started recently (possibly by a concurrent request with the same unknown kid) answers for it.
      if (latest !== undefined && now() - latest.startedAt < unknownKidRefreshMs) return latest.ring;
      return load();
    },
    invalidate() {
      latest = undefined;
      loaded = undefined;
    },
  };
  return provider;
}

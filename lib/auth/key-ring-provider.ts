/**
 * Keeps the signing key ring in memory, reloading it every `ttlMs` and, at most once per
 * `unknownKidRefreshMs`, when a token names a kid we have not seen (another instance rotated).
 */
import type { Encryptor } from "../crypto/envelope-encryption.ts";
import type { Db } from "../db/database.ts";
import { type KeyRing, ensureSigningKeys, loadKeyRing } from "./signing-keys.ts";

export interface KeyRingProviderOptions {
  ttlMs: number;
  unknownKidRefreshMs: number;
}

export const DEFAULT_KEY_RING_OPTIONS: KeyRingProviderOptions = { ttlMs: 60_000, unknownKidRefreshMs: 5_000 };

export interface KeyRingProvider {
  get(): Promise<KeyRing>;
  /** The ring, reloaded first if `kid` is unknown and a reload is allowed now. */
  forKid(kid: string): Promise<KeyRing>;
  invalidate(): void;
}

export function createKeyRingProvider(db: Db, encryptor: Encryptor, options: Partial<KeyRingProviderOptions> = {}): KeyRingProvider {
  const { ttlMs, unknownKidRefreshMs } = { ...DEFAULT_KEY_RING_OPTIONS, ...options };
  let loading: Promise<KeyRing> | undefined;
  let loadedAt = 0;
  let ensured = false;
  const load = () => {
    loading = (async () => {
      if (!ensured) {
        await ensureSigningKeys(db, encryptor);
        ensured = true;
      }
      const ring = await loadKeyRing(db, encryptor);
      loadedAt = performance.now();
      return ring;
    })();
    loading.catch(() => {
      loading = undefined;
    });
    return loading;
  };
  const provider: KeyRingProvider = {
    get() {
      if (loading === undefined || performance.now() - loadedAt > ttlMs) return load();
      return loading;
    },
    async forKid(kid) {
      const ring = await provider.get();
      if (ring.verificationKeys.has(kid) || performance.now() - loadedAt < unknownKidRefreshMs) return ring;
      return load();
    },
    invalidate() {
      loading = undefined;
    },
  };
  return provider;
}

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { createEncryptor, type Encryptor } from "../crypto/envelope-encryption.ts";
import { createKeyRingProvider } from "./key-ring-provider.ts";
import { rotateSigningKeys } from "./signing-keys.ts";

/** The runtime's encryptor, counting decryptions: each ring load decrypts the current private key once. */
function countingEncryptor(runtime: TestRuntime): Encryptor & { loads: number } {
  const inner = createEncryptor(runtime.config.encryptionKeys);
  const counted = {
    loads: 0,
    currentVersion: inner.currentVersion,
    versionOf: inner.versionOf,
    encrypt: inner.encrypt,
    decrypt(ciphertext: string, rowIdentity: string) {
      counted.loads++;
      return inner.decrypt(ciphertext, rowIdentity);
    },
  };
  return counted;
}

describe.each(DATABASE_BACKENDS)("key ring provider on %s", (backend) => {
  let runtime: TestRuntime;
  // The providers' clock: tests move it past a TTL instead of sleeping.
  let time = 0;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("a burst of tokens naming unknown kids reloads the ring once, not once per token", async () => {
    const encryptor = countingEncryptor(runtime);
    const provider = createKeyRingProvider(runtime.db.primary, encryptor, {
      ...{ unknownKidRefreshMs: 40 },
      now: () => time,
    });
    await provider.get();
    time += 50;
    await Promise.all(Array.from({ length: 50 }, () => provider.forKid(crypto.randomUUID())));
    expect(encryptor.loads).toBe(2);
  });

  test("callers arriving after the TTL share one reload", async () => {
    const encryptor = countingEncryptor(runtime);
    const provider = createKeyRingProvider(runtime.db.primary, encryptor, { ...{ ttlMs: 20 }, now: () => time });
    await provider.get();
    time += 30;
    await Promise.all(Array.from({ length: 50 }, () => provider.get()));
    expect(encryptor.loads).toBe(2);
  });

  test("a kid another instance just promoted is found by reloading", async () => {
    const encryptor = countingEncryptor(runtime);
    const provider = createKeyRingProvider(runtime.db.primary, encryptor, {
      ...{ unknownKidRefreshMs: 10 },
      now: () => time,
    });
    const before = await provider.get();
    const { next } = await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 60_000 });
    time += 20;
    const after = await provider.forKid(next);
    expect(before.verificationKeys.has(next)).toBe(false);
    expect(after.verificationKeys.has(next)).toBe(true);
  });

  test("invalidate makes the next get load the database's current key", async () => {
    const encryptor = countingEncryptor(runtime);
    const provider = createKeyRingProvider(runtime.db.primary, encryptor);
    const before = await provider.get();
    const { current } = await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 60_000 });
    expect((await provider.get()).signingKid).toBe(before.signingKid);
    provider.invalidate();
    expect((await provider.get()).signingKid).toBe(current);
  });
});

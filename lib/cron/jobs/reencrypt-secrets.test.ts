import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  type DatabaseBackend,
  openTestRuntime,
  type TestRuntime,
} from "../../../test/backends.ts";
import { loadKeyRing, rotateSigningKeys, signingKeyRowIdentity } from "../../auth/signing-keys.ts";
import { loadConfig } from "../../config/config.ts";
import { createEncryptor } from "../../crypto/envelope-encryption.ts";
import { jobRuns, signingKeys } from "../../db/schema/index.ts";
import { deriveRuntime, type Runtime } from "../../runtime/runtime.ts";
import { runScheduledJob } from "../scheduled-job.ts";
import { DEFAULT_REENCRYPT_BATCH_SIZE, reencryptSecrets } from "./reencrypt-secrets.ts";

const V1 = `v1:${Buffer.alloc(32, 1).toString("base64")}`;
const V2 = `v2:${Buffer.alloc(32, 2).toString("base64")}`;
// More rows than one batch, so the scan has to page.
const EXTRA_ROWS = DEFAULT_REENCRYPT_BATCH_SIZE + 20;

/** The same database seen by an instance configured with other encryption keys. */
function withKeys(runtime: Runtime, env: Record<string, string>): Runtime {
  return deriveRuntime(runtime, { config: loadConfig({ NODE_ENV: "test", ...env }) });
}

/** A database whose signing keys (a live ring and many retired rows) are all sealed under v1. */
async function openV1Database(backend: DatabaseBackend): Promise<TestRuntime> {
  const runtime = await openTestRuntime({ database: backend, env: { ENCRYPTION_KEYS: V1 } });
  const { encryptor, keyRing } = runtime.services.identity;
  await keyRing.get();
  await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0 });
  const rows = await Promise.all(
    Array.from({ length: EXTRA_ROWS }, async (_, i) => {
      const kid = crypto.randomUUID();
      return {
        kid,
        algorithm: "EdDSA",
        state: "retired" as const,
        publicJwk: "{}",
        privateKeyCiphertext: await encryptor.encrypt(`secret-${i}`, signingKeyRowIdentity(kid)),
      };
    }),
  );
  await runtime.db.primary.insert(signingKeys).values(rows);
  return runtime;
}

const ciphertexts = async (runtime: Runtime) =>
  runtime.db.primary
    .select({ kid: signingKeys.kid, ciphertext: signingKeys.privateKeyCiphertext })
    .from(signingKeys)
    .orderBy(asc(signingKeys.kid));

let minute = 0;
const nextSlot = () => new Date(Date.UTC(2026, 10, 25, 4, 37 + minute++));

describe.each(DATABASE_BACKENDS)("reencrypt-secrets on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openV1Database(backend);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test(
    "moves every v1 row to v2 when ENCRYPTION_KEYS holds " + "both, keeping each secret and its row binding",
    async () => {
      const before = await ciphertexts(runtime);
      expect(before.every((row) => row.ciphertext.startsWith("v1."))).toBe(true);
      const v2 = withKeys(runtime, { ENCRYPTION_KEYS: `${V2},${V1}` });
      expect(await runScheduledJob(v2, reencryptSecrets, nextSlot())).toEqual({
        status: "succeeded",
        detail: `re-encrypted ${before.length} secrets to v2; done`,
      });

      const after = await ciphertexts(runtime);
      expect(after.every((row) => row.ciphertext.startsWith("v2."))).toBe(true);
      const v1Only = runtime.services.identity.encryptor;
      const v2Only = createEncryptor(loadConfig({ NODE_ENV: "test", ENCRYPTION_KEYS: V2 }).encryptionKeys);
      for (const [i, row] of after.entries()) {
        const original = before[i];
        if (original === undefined) throw new Error("row count changed");
        expect(await v2Only.decrypt(row.ciphertext, signingKeyRowIdentity(row.kid))).toBe(
          await v1Only.decrypt(original.ciphertext, signingKeyRowIdentity(original.kid)),
        );
      }
      // With v1 gone from the configuration, the key ring still loads.
      expect((await loadKeyRing(runtime.db.primary, v2Only)).signingKid).toBeString();
    },
  );

  test("a second run changes nothing", async () => {
    const before = await ciphertexts(runtime);
    const v2 = withKeys(runtime, { ENCRYPTION_KEYS: `${V2},${V1}` });
    expect(await runScheduledJob(v2, reencryptSecrets, nextSlot())).toEqual({
      status: "succeeded",
      detail: "re-encrypted 0 secrets to v2; done",
    });
    expect(await ciphertexts(runtime)).toEqual(before);
  });
});

describe.each(DATABASE_BACKENDS)("reencrypt-secrets failures and races on %s", (backend) => {
  // Each test changes its database's rows, so each gets a fresh one.
  let runtime: Awaited<ReturnType<typeof openV1Database>>;
  beforeEach(async () => {
    runtime = await openV1Database(backend);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterEach(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  test("two runs at once re-encrypt each row exactly once", async () => {
    const v2 = withKeys(runtime, { ENCRYPTION_KEYS: `${V2},${V1}` });
    const rows = (await ciphertexts(runtime)).length;
    const signal = AbortSignal.timeout(30_000);
    const details = await Promise.all([reencryptSecrets.run(v2, signal), reencryptSecrets.run(v2, signal)]);
    const moved = details.map((detail) => Number(/^re-encrypted (\d+)/.exec(detail)?.[1]));
    expect(moved.reduce((sum, n) => sum + n, 0)).toBe(rows);
    expect((await ciphertexts(runtime)).every((row) => row.ciphertext.startsWith("v2."))).toBe(true);
  });

  test(
    "with v1 retired, un-migrated rows fail to decrypt: " + "the ring cannot sign and the job fails naming them",
    async () => {
      const retired = withKeys(runtime, { ENCRYPTION_KEYS: `${V2},${V1}`, ENCRYPTION_RETIRED_VERSIONS: "v1" });
      const { encryptor } = retired.services.identity;
      const ring = await loadKeyRing(runtime.db.primary, encryptor);
      expect(ring.signingKey).toBeUndefined();
      expect(ring.signingKeyProblem).toBe(
        `ENCRYPTION_KEYS cannot decrypt the current signing key (kid ${ring.signingKid}): it is encrypted ` +
          `under key version v1, which ENCRYPTION_RETIRED_VERSIONS retires`,
      );

      const before = await ciphertexts(runtime);
      const slot = nextSlot();
      await expect(runScheduledJob(retired, reencryptSecrets, slot)).rejects.toThrow(
        `${before.length} could not be decrypted`,
      );
      const [run] = await runtime.db.primary.select().from(jobRuns).where(eq(jobRuns.job, reencryptSecrets.name));
      expect(run).toMatchObject({ status: "failed", detail: expect.stringContaining("retired-version") });
      expect(await ciphertexts(runtime)).toEqual(before);
    },
  );

  test("a tampered row is reported while every other row still moves", async () => {
    const [victim] = await ciphertexts(runtime);
    if (victim === undefined) throw new Error("no rows");
    const [version, iv, data] = victim.ciphertext.split(".") as [string, string, string];
    const tampered = `${version}.${iv}.${data.startsWith("A") ? "B" : "A"}${data.slice(1)}`;
    await runtime.db.primary
      .update(signingKeys)
      .set({ privateKeyCiphertext: tampered })
      .where(eq(signingKeys.kid, victim.kid));
    const v2 = withKeys(runtime, { ENCRYPTION_KEYS: `${V2},${V1}` });
    await expect(reencryptSecrets.run(v2, AbortSignal.timeout(30_000))).rejects.toThrow(
      `1 could not be decrypted: signing_keys.private_key_ciphertext ${victim.kid}: tampered`,
    );
    const after = await ciphertexts(runtime);
    expect(after.filter((row) => row.ciphertext.startsWith("v1.")).map((row) => row.kid)).toEqual([victim.kid]);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { signingKeys } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { CLOCK_SKEW_SECONDS, signAccessToken, verifyAccessToken } from "./access-tokens.ts";
import { createKeyRingProvider } from "./key-ring-provider.ts";
import { retireAfterMs } from "./signing-key-rotation.ts";
import { ensureSigningKeys, loadKeyRing, rotateSigningKeys } from "./signing-keys.ts";

const subject = { userId: "5d0c7b1e-3c1f-4f5e-9a51-2f0c3c9f7a10", sessionId: "a3b1f0e2-8d4c-4c7e-b0a9-6e5d4c3b2a19" };

describe.each(DATABASE_BACKENDS)("signing key ring on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  afterEach(() => setSystemTime());

  const statesByKid = async () => {
    const rows = await runtime.db.primary
      .select({ kid: signingKeys.kid, state: signingKeys.state })
      .from(signingKeys)
      .orderBy(asc(signingKeys.createdAt));
    return Object.fromEntries(rows.map((row) => [row.kid, row.state]));
  };
  const clear = () => runtime.db.primary.delete(signingKeys);
  const rejection = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).code;
  };

  test("keys move next → current → retiring → retired over several rotations", async () => {
    await clear();
    const { encryptor } = runtime.services.identity;
    const db = runtime.db.primary;
    await Promise.all([ensureSigningKeys(db, encryptor), ensureSigningKeys(db, encryptor)]);
    const first = await loadKeyRing(db, encryptor);
    const a = first.signingKid;
    const b = first.jwks.keys.map((k) => k.kid).find((kid) => kid !== a) as string;
    expect(await statesByKid()).toEqual({ [a]: "current", [b]: "next" });

    const r1 = await rotateSigningKeys(db, encryptor, { retireAfterMs: 60_000 });
    expect(r1).toMatchObject({ rotated: true, current: b, retired: [] });
    const c = r1.next;
    expect(await statesByKid()).toEqual({ [a]: "retiring", [b]: "current", [c]: "next" });

    // Inside the window the retiring key stays; two keys may be retiring at once.
    const r2 = await rotateSigningKeys(db, encryptor, { retireAfterMs: 60_000 });
    const d = r2.next;
    expect(r2).toMatchObject({ current: c, retired: [] });
    expect(await statesByKid()).toEqual({ [a]: "retiring", [b]: "retiring", [c]: "current", [d]: "next" });

    setSystemTime(new Date(Date.now() + 61_000));
    const r3 = await rotateSigningKeys(db, encryptor, { retireAfterMs: 60_000 });
    expect(r3.retired.sort()).toEqual([a, b].sort());
    expect(await statesByKid()).toEqual({
      [a]: "retired",
      [b]: "retired",
      [c]: "retiring",
      [d]: "current",
      [r3.next]: "next",
    });

    const ring = await loadKeyRing(db, encryptor);
    expect(ring.signingKid).toBe(d);
    expect([...ring.verificationKeys.keys()].sort()).toEqual([c, d, r3.next].sort());
    expect(ring.jwks.keys.map((k) => k.kid).sort()).toEqual([c, d, r3.next].sort());
    const [retiredRow] = await db.select().from(signingKeys).where(eq(signingKeys.kid, a));
    expect(retiredRow?.retiredAt).toBeInstanceOf(Date);
  });

  test("a scheduled rotation is skipped while the current key is young, but still retires overdue keys", async () => {
    await clear();
    const { encryptor } = runtime.services.identity;
    const db = runtime.db.primary;
    await ensureSigningKeys(db, encryptor);
    const forced = await rotateSigningKeys(db, encryptor, { retireAfterMs: 1_000 });
    setSystemTime(new Date(Date.now() + 2_000));
    const scheduled = await rotateSigningKeys(db, encryptor, {
      retireAfterMs: 1_000,
      onlyIfCurrentOlderThanMs: 3_600_000,
    });
    expect(scheduled).toEqual({
      rotated: false,
      current: forced.current,
      next: forced.next,
      retired: scheduled.retired,
    });
    expect(scheduled.retired).toHaveLength(1);
    expect(Object.values(await statesByKid()).sort()).toEqual(["current", "next", "retired"]);
  });

  test("concurrent rotations serialise: one current and one next key remain", async () => {
    await clear();
    const { encryptor } = runtime.services.identity;
    const db = runtime.db.primary;
    await ensureSigningKeys(db, encryptor);
    await Promise.all(Array.from({ length: 4 }, () => rotateSigningKeys(db, encryptor, { retireAfterMs: 60_000 })));
    const states = Object.values(await statesByKid());
    expect(states.filter((s) => s === "current")).toHaveLength(1);
    expect(states.filter((s) => s === "next")).toHaveLength(1);
    expect(states.filter((s) => s === "retiring")).toHaveLength(4);
  });

  test("the JWKS carries only the public fields of next, current and retiring keys", async () => {
    const ring = await loadKeyRing(runtime.db.primary, runtime.services.identity.encryptor);
    for (const key of ring.jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
      expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    }
  });

  test("a token signed with the previous key verifies until it expires, then is refused", async () => {
    await clear();
    const { encryptor } = runtime.services.identity;
    const db = runtime.db.primary;
    const { auth } = runtime.config;
    const ring = createKeyRingProvider(db, encryptor);
    const signedAt = Date.now();
    const { token } = await signAccessToken(await ring.get(), auth, subject);
    const previous = (await ring.get()).signingKid;
    await rotateSigningKeys(db, encryptor, { retireAfterMs: retireAfterMs(auth) });
    ring.invalidate();
    expect((await ring.get()).signingKid).not.toBe(previous);
    expect(await verifyAccessToken(ring, auth, token)).toMatchObject(subject);

    setSystemTime(new Date(signedAt + (auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS - 2) * 1000));
    expect(await verifyAccessToken(ring, auth, token)).toMatchObject(subject);
    setSystemTime(new Date(signedAt + (auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS + 1) * 1000));
    expect(await rejection(verifyAccessToken(ring, auth, token))).toBe("UNAUTHORIZED");

    // The retire window covers the token's whole life, so a retirement never cuts a live token short.
    setSystemTime(new Date(signedAt + retireAfterMs(auth) - 1_000));
    expect(
      (
        await rotateSigningKeys(db, encryptor, {
          retireAfterMs: retireAfterMs(auth),
          onlyIfCurrentOlderThanMs: 86_400_000,
        })
      ).retired,
    ).toEqual([]);
    setSystemTime(new Date(signedAt + retireAfterMs(auth) + 1_000));
    expect(
      (
        await rotateSigningKeys(db, encryptor, {
          retireAfterMs: retireAfterMs(auth),
          onlyIfCurrentOlderThanMs: 86_400_000,
        })
      ).retired,
    ).toEqual([previous]);
  });

  test("a live token signed by a key that has since been retired is refused", async () => {
    const { encryptor } = runtime.services.identity;
    const db = runtime.db.primary;
    const ring = createKeyRingProvider(db, encryptor);
    const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
    // Stamped 1 ms back: the next rotation finds the key retiring for longer than 0 ms without waiting.
    await rotateSigningKeys(db, encryptor, { retireAfterMs: 0, now: () => Date.now() - 1 });
    await rotateSigningKeys(db, encryptor, { retireAfterMs: 0 });
    ring.invalidate();
    expect(await rejection(verifyAccessToken(ring, runtime.config.auth, token))).toBe("UNAUTHORIZED");
  });
});

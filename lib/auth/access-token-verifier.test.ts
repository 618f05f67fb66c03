import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, spyOn, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { AppError } from "../errors/app-error.ts";
import { createAccessTokenVerifier } from "./access-token-verifier.ts";
import { CLOCK_SKEW_SECONDS, signAccessToken } from "./access-tokens.ts";
import { createKeyRingProvider } from "./key-ring-provider.ts";
import { rotateSigningKeys } from "./signing-keys.ts";

const subject = { userId: "5d0c7b1e-3c1f-4f5e-9a51-2f0c3c9f7a10", sessionId: "a3b1f0e2-8d4c-4c7e-b0a9-6e5d4c3b2a19" };

const rejection = async (answer: unknown) => {
  const error = await Promise.resolve(answer).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return (error as AppError).code;
};

describe("access-token verifier cache", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  afterEach(() => setSystemTime());

  const setUp = () => {
    const ring = createKeyRingProvider(runtime.db.primary, runtime.services.identity.encryptor);
    return { ring, verify: createAccessTokenVerifier(ring, runtime.config.auth, { maxEntries: 2 }) };
  };

  test("a token seen before is answered without a second signature check, with the same claims", async () => {
    const { ring, verify } = setUp();
    const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
    const first = await verify(token);
    const verifySpy = spyOn(crypto.subtle, "verify");
    try {
      expect(await verify(token)).toEqual(first);
      expect(verifySpy).not.toHaveBeenCalled();
    } finally {
      verifySpy.mockRestore();
    }
    expect(first).toMatchObject(subject);
  });

  test(
    "a cached token is answered without a promise while the ring is " +
      "loaded, and through one after the ring is dropped",
    async () => {
      const { ring, verify } = setUp();
      const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
      await verify(token);
      const warm = verify(token);
      expect(warm instanceof Promise).toBe(false);
      expect(warm).toMatchObject(subject);
      ring.invalidate();
      const reloading = verify(token);
      expect(reloading instanceof Promise).toBe(true);
      expect(await reloading).toMatchObject(subject);
    },
  );

  test("a cached token is refused once it expires", async () => {
    const { ring, verify } = setUp();
    const signedAt = Date.now();
    const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
    await verify(token);
    setSystemTime(new Date(signedAt + (runtime.config.auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS + 2) * 1000));
    expect(await rejection(verify(token))).toBe("UNAUTHORIZED");
  });

  test("a cached token is refused once its key leaves the ring", async () => {
    const { ring, verify } = setUp();
    const { encryptor } = runtime.services.identity;
    const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
    await verify(token);
    // Stamped 1 ms back: the next rotation finds the key retiring for longer than 0 ms without waiting.
    await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0, now: () => Date.now() - 1 });
    await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0 });
    ring.invalidate();
    expect(await rejection(verify(token))).toBe("UNAUTHORIZED");
  });

  test("a token differing from a cached one by a character is verified in full and refused", async () => {
    const { ring, verify } = setUp();
    const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
    await verify(token);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const forgedPayload = btoa(
      JSON.stringify({ ...JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))), sub: "someone-else" }),
    )
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    expect(await rejection(verify(`${header}.${forgedPayload}.${signature}`))).toBe("UNAUTHORIZED");
    expect(await verify(token)).toMatchObject(subject);
  });

  test("the cache holds at most maxEntries tokens, and an evicted token still verifies in full", async () => {
    const { ring, verify } = setUp();
    const tokens = await Promise.all(
      [1, 2, 3].map(async () => (await signAccessToken(await ring.get(), runtime.config.auth, subject)).token),
    );
    for (const token of tokens) await verify(token);
    const verifySpy = spyOn(crypto.subtle, "verify");
    try {
      expect(await verify(tokens[0] as string)).toMatchObject(subject);
      expect(verifySpy).toHaveBeenCalledTimes(1);
    } finally {
      verifySpy.mockRestore();
    }
  });
});

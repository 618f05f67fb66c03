import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { type CryptoKey, SignJWT } from "jose";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { AppError } from "../errors/app-error.ts";
import { createAccessTokenVerifier } from "./access-token-verifier.ts";
import {
  ACCESS_TOKEN_TYPE,
  CLOCK_SKEW_SECONDS,
  signAccessToken,
  type VerifiedAccessToken,
  verifyAccessToken,
} from "./access-tokens.ts";
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

  // Each full verification builds a new answer; the cache hands back the one it kept.
  test("a token seen before is answered from the cache, not verified again, with the same claims", async () => {
    const { ring, verify } = setUp();
    const { token } = await signAccessToken(await ring.get(), runtime.config.auth, subject);
    const first = await verify(token);
    expect(await verify(token)).toBe(first);
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
    const [oldest, , newest] = tokens as [string, string, string];
    const answers: VerifiedAccessToken[] = [];
    for (const token of tokens) answers.push(await verify(token));
    expect(await verify(newest)).toBe(answers[2] as VerifiedAccessToken);
    const again = await verify(oldest);
    expect(again).not.toBe(answers[0]);
    expect(again).toEqual(answers[0] as VerifiedAccessToken);
  });
});

describe("access-token checks at their boundaries, on a fixed clock", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  afterEach(() => setSystemTime());

  const signedAt = Date.UTC(2026, 0, 1) / 1000;
  /** A token signed by the ring's current key with our claims, then `header` and `claims` overrides. */
  const sign = async (header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}) => {
    const ring = await runtime.services.identity.keyRing.get();
    const { auth } = runtime.config;
    const issued = {
      iss: auth.issuer,
      aud: auth.audience,
      sub: subject.userId,
      sid: subject.sessionId,
      jti: crypto.randomUUID(),
      iat: signedAt,
      exp: signedAt + auth.accessTokenTtlSeconds,
    };
    return new SignJWT({ ...issued, ...claims })
      .setProtectedHeader({ alg: "EdDSA", kid: ring.signingKid, typ: ACCESS_TOKEN_TYPE, ...header })
      .sign(ring.signingKey as CryptoKey);
  };
  const verifyAt = (seconds: number, token: string) => {
    setSystemTime(new Date(seconds * 1000));
    return verifyAccessToken(runtime.services.identity.keyRing, runtime.config.auth, token);
  };

  test("exp is accepted up to the clock skew after it and refused 1 s past the skew", async () => {
    const token = await sign();
    const expiry = signedAt + runtime.config.auth.accessTokenTtlSeconds;
    expect(await verifyAt(expiry + CLOCK_SKEW_SECONDS - 1, token)).toMatchObject(subject);
    expect(await rejection(verifyAt(expiry + CLOCK_SKEW_SECONDS + 1, token))).toBe("UNAUTHORIZED");
  });

  test("nbf is accepted up to the clock skew ahead and refused 1 s beyond it", async () => {
    expect(await verifyAt(signedAt, await sign({}, { nbf: signedAt + CLOCK_SKEW_SECONDS }))).toMatchObject(subject);
    const early = await sign({}, { nbf: signedAt + CLOCK_SKEW_SECONDS + 1 });
    expect(await rejection(verifyAt(signedAt, early))).toBe("UNAUTHORIZED");
  });

  test("iat is accepted up to the clock skew ahead and refused 1 s beyond it", async () => {
    const token = await sign();
    expect(await verifyAt(signedAt - CLOCK_SKEW_SECONDS, token)).toMatchObject(subject);
    expect(await rejection(verifyAt(signedAt - CLOCK_SKEW_SECONDS - 1, token))).toBe("UNAUTHORIZED");
  });

  test("typ is compared as jose compares it: case-insensitive, with or without application/", async () => {
    for (const typ of ["application/at+jwt", "AT+JWT"]) {
      expect(await verifyAt(signedAt, await sign({ typ }))).toMatchObject(subject);
    }
    expect(await rejection(verifyAt(signedAt, await sign({ typ: "at+jwt2" })))).toBe("UNAUTHORIZED");
  });

  test("aud may be a list that names our audience, and no list without it", async () => {
    const { audience } = runtime.config.auth;
    expect(await verifyAt(signedAt, await sign({}, { aud: ["another-api", audience] }))).toMatchObject(subject);
    expect(await rejection(verifyAt(signedAt, await sign({}, { aud: ["another-api"] })))).toBe("UNAUTHORIZED");
  });

  test("a crit header is refused even when it names only b64: true, which changes nothing", async () => {
    expect(await rejection(verifyAt(signedAt, await sign({ crit: ["b64"], b64: true })))).toBe("UNAUTHORIZED");
  });
});

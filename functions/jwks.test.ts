import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLocalJWKSet, jwtVerify } from "jose";
import { signAccessToken } from "../lib/auth/access-tokens.ts";
import { rotateSigningKeys } from "../lib/auth/signing-keys.ts";
import { JWKS_TAG } from "../lib/cache/cache-tags.ts";
import { purgeTags } from "../lib/cache/purge-tags.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import jwks from "./jwks.ts";
import signingKeys from "./signing-keys.ts";

const ADMIN_TOKEN = "admin-token-0123456789-0123456789-abcdef";
const subject = { userId: "5d0c7b1e-3c1f-4f5e-9a51-2f0c3c9f7a10", sessionId: "a3b1f0e2-8d4c-4c7e-b0a9-6e5d4c3b2a19" };

interface Jwks {
  keys: Record<string, unknown>[];
}

describe("GET /.well-known/jwks.json", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({ env: { ADMIN_TOKEN } });
    app = buildApp(runtime, [jwks, signingKeys]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  const fetchJwks = async () => {
    const response = await app.fetch(new Request("http://localhost/.well-known/jwks.json"));
    expect(response.status).toBe(200);
    return { response, body: (await response.json()) as Jwks };
  };
  const kidsOf = (set: Jwks) => set.keys.map((key) => key.kid as string).sort();
  const rotate = () =>
    app.fetch(
      new Request("http://localhost/admin/signing-keys/rotate", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      }),
    );

  test("is public, cacheable for five minutes, and lists the current and next public keys only", async () => {
    const { response, body } = await fetchJwks();
    expect(response.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=300");
    expect(response.headers.get("content-type")).toStartWith("application/json");
    const ring = await runtime.services.identity.keyRing.get();
    expect(kidsOf(body)).toEqual([...ring.verificationKeys.keys()].sort());
    expect(body.keys).toHaveLength(2);
    for (const key of body.keys) {
      expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
      expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    }
  });

  test("a third party holding only the JWKS verifies our access tokens", async () => {
    const { body } = await fetchJwks();
    const { token } = await signAccessToken(
      await runtime.services.identity.keyRing.get(),
      runtime.config.auth,
      subject,
    );
    const { payload } = await jwtVerify(token, createLocalJWKSet(body as Parameters<typeof createLocalJWKSet>[0]), {
      algorithms: ["EdDSA"],
    });
    expect(payload.sub).toBe(subject.userId);
  });

  test(
    "the next key is published before it signs: after a rotation, the new " + "token's kid was already in the JWKS",
    async () => {
      const { body: before } = await fetchJwks();
      const previousKid = (await runtime.services.identity.keyRing.get()).signingKid;
      expect((await rotate()).status).toBe(200);
      const { token } = await signAccessToken(
        await runtime.services.identity.keyRing.get(),
        runtime.config.auth,
        subject,
      );
      const kid = (JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString()) as { kid: string }).kid;
      expect(kid).not.toBe(previousKid);
      expect(kidsOf(before)).toContain(kid);
      // The previous key stays published while its tokens live, next to the new current and next keys.
      const { body: after } = await fetchJwks();
      expect(after.keys).toHaveLength(3);
      expect(kidsOf(after)).toContain(previousKid);
    },
  );

  test("retired keys are not published", async () => {
    const { encryptor, keyRing } = runtime.services.identity;
    const retiringKid = (await keyRing.get()).signingKid;
    // Stamped 1 ms back: the next rotation finds the key retiring for longer than 0 ms without waiting.
    await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0, now: () => Date.now() - 1 });
    await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0 });
    keyRing.invalidate();
    // What a rotation through rotateRuntimeSigningKeys does once it commits.
    await purgeTags(runtime, [JWKS_TAG]);
    const { body } = await fetchJwks();
    expect(kidsOf(body)).not.toContain(retiringKid);
    expect(body.keys).toHaveLength(3);
  });
});

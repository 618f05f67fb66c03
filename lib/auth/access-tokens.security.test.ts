/**
 * The JWT attack catalogue (alg confusion, header key injection, claim abuse, malformed encodings,
 * revocation, retired keys) against a route of access "user", through the whole HTTP pipeline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from "jose";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  type DatabaseBackend,
  openTestRuntime,
  type TestRuntime,
} from "../../test/backends.ts";
import { DEFAULT_CONFIG } from "../config/config.ts";
import { ERROR_CODES } from "../core/error-codes.ts";
import { requestContextOf } from "../core/request-context.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { defineRouteGroup } from "../http/route-group.ts";
import { ACCESS_TOKEN_TYPE, MAX_ACCESS_TOKEN_BYTES, signAccessToken } from "./access-tokens.ts";
import { rotateSigningKeys } from "./signing-keys.ts";

const probe = defineRouteGroup("probe", () =>
  new Elysia().use(policyPlugin).get("/probe", ({ request }) => ({ caller: requestContextOf(request).caller }), {
    policy: { access: "user", rateLimits: [] },
  }),
);

const USER_ID = "5d0c7b1e-3c1f-4f5e-9a51-2f0c3c9f7a10";
const SESSION_ID = "a3b1f0e2-8d4c-4c7e-b0a9-6e5d4c3b2a19";
const TTL = DEFAULT_CONFIG.auth.accessTokenTtlSeconds;
const ATTACKER_URL = "https://attacker.example/keys.json";

const encoder = new TextEncoder();
const b64url = (value: string | Uint8Array) =>
  Buffer.from(typeof value === "string" ? encoder.encode(value) : value).toString("base64url");
const segment = (value: unknown) => b64url(JSON.stringify(value));
const nowSeconds = () => Math.floor(Date.now() / 1000);
/** `base` with each override applied; an override of undefined removes the member. */
function withOverrides(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const result = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete result[name];
    else result[name] = value;
  }
  return result;
}

// Every fetch is the outside world; verification must never make one, whatever the token names.
const outbound: string[] = [];
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = Object.assign(
    async (input: string | URL | Request) => {
      outbound.push(input instanceof Request ? input.url : String(input));
      throw new Error("outbound request during token verification");
    },
    { preconnect: realFetch.preconnect },
  );
});
afterAll(() => {
  globalThis.fetch = realFetch;
  expect(outbound).toEqual([]);
});

interface Refusal {
  status: number;
  code: string;
  message: string;
  details: unknown;
  contentType: string | null;
}

// Each attack from an address of its own: one address would soon spend its failed-authentication budget (429).
let attackers = 0;
const nextAttacker = () => `198.51.${(++attackers >> 8) & 255}.${attackers & 255}`;

async function call(app: RampartApp, authorization: string | undefined): Promise<Response> {
  const headers: Record<string, string> = { "x-forwarded-for": nextAttacker() };
  if (authorization !== undefined) headers.authorization = authorization;
  return app.fetch(new Request("http://localhost/probe", { headers }));
}

async function refusalOf(response: Response): Promise<Refusal> {
  const { error } = (await response.json()) as { error: { code: string; message: string; details?: unknown } };
  return {
    status: response.status,
    code: error.code,
    message: error.message,
    details: error.details,
    contentType: response.headers.get("content-type"),
  };
}

/** What a request with no credentials gets; every refused token must get exactly this. */
const REFUSED: Refusal = {
  status: 401,
  code: "UNAUTHORIZED",
  message: ERROR_CODES.UNAUTHORIZED.message,
  details: undefined,
  contentType: "application/json; charset=utf-8",
};

describe("access token attacks through the HTTP app", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let signingKey: CryptoKey;
  let kid: string;
  let publicJwk: JWK;
  let otherKid: string;
  let genuine: string;

  const claims = (overrides: Record<string, unknown> = {}) => {
    const iat = nowSeconds();
    return withOverrides(
      {
        iss: runtime.config.auth.issuer,
        aud: runtime.config.auth.audience,
        sub: USER_ID,
        sid: SESSION_ID,
        jti: crypto.randomUUID(),
        iat,
        exp: iat + TTL,
      },
      overrides,
    );
  };
  const header = (overrides: Record<string, unknown> = {}) =>
    withOverrides({ alg: "EdDSA", kid, typ: ACCESS_TOKEN_TYPE }, overrides);
  /** Signed by hand with the real current key: only the property under test is wrong. */
  const handSigned = async (head: Record<string, unknown>, payload: unknown, key: CryptoKey = signingKey) => {
    const input = `${segment(head)}.${segment(payload)}`;
    const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", key, encoder.encode(input)));
    return `${input}.${b64url(signature)}`;
  };
  const attackerKey = async () => {
    const pair = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    return { ...pair, jwk: await exportJWK(pair.publicKey), kid: crypto.randomUUID() };
  };

  beforeAll(async () => {
    runtime = await openTestRuntime({ env: { TRUST_PROXY: "1" } });
    app = buildApp(runtime, [probe]);
    const ring = await runtime.services.identity.keyRing.get();
    signingKey = ring.signingKey as CryptoKey;
    kid = ring.signingKid;
    publicJwk = ring.jwks.keys.find((k) => k.kid === kid) as JWK;
    otherKid = [...ring.verificationKeys.keys()].find((k) => k !== kid) as string;
    genuine = (
      await signAccessToken(await runtime.services.identity.keyRing.get(), runtime.config.auth, {
        userId: USER_ID,
        sessionId: SESSION_ID,
      })
    ).token;
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  const expectRefused = async (authorization: string | undefined) => {
    expect(await refusalOf(await call(app, authorization))).toEqual(REFUSED);
    expect(outbound).toEqual([]);
  };
  const expectTokenRefused = (token: string) => expectRefused(`Bearer ${token}`);

  describe("controls: what the attacks are measured against", () => {
    test("a token from signAccessToken is accepted and names its user and session", async () => {
      const response = await call(app, `Bearer ${genuine}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ caller: { kind: "user", userId: USER_ID, sessionId: SESSION_ID } });
    });

    test(
      "a token signed by hand with the same key and claims is accepted, so " +
        "each forgery differs only in what it attacks",
      async () => {
        expect((await call(app, `Bearer ${await handSigned(header(), claims())}`)).status).toBe(200);
      },
    );

    test("no Authorization header gives the reference 401 envelope", async () => {
      await expectRefused(undefined);
    });
  });

  describe("algorithm attacks", () => {
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      test(`alg "${alg}" without a signature`, async () => {
        await expectTokenRefused(`${segment(header({ alg }))}.${segment(claims())}.`);
      });
      test(`alg "${alg}" with the genuine token's signature kept`, async () => {
        await expectTokenRefused(`${segment(header({ alg }))}.${segment(claims())}.${genuine.split(".")[2]}`);
      });
    }

    test("an unsecured JWT made by jose (UnsecuredJWT)", async () => {
      const unsecured = new UnsecuredJWT(claims())
        .setIssuer(runtime.config.auth.issuer)
        .setAudience(runtime.config.auth.audience)
        .encode();
      await expectTokenRefused(unsecured);
    });

    test("key confusion: HS256 keyed with the public key's bytes (raw x, JWK JSON and SPKI PEM)", async () => {
      const raw = Buffer.from(publicJwk.x as string, "base64url");
      const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]);
      const pem = `-----BEGIN PUBLIC KEY-----\n${spki.toString("base64")}\n-----END PUBLIC KEY-----\n`;
      for (const secret of [raw, encoder.encode(JSON.stringify(publicJwk)), encoder.encode(pem)]) {
        const token = await new SignJWT(claims())
          .setProtectedHeader({ alg: "HS256", kid, typ: ACCESS_TOKEN_TYPE })
          .sign(new Uint8Array(secret));
        await expectTokenRefused(token);
      }
    });

    for (const alg of ["RS256", "ES256", "PS256"] as const) {
      test(`${alg}, signed with the attacker's own key under our kid`, async () => {
        const { privateKey } = await generateKeyPair(alg);
        await expectTokenRefused(
          await new SignJWT(claims()).setProtectedHeader({ alg, kid, typ: ACCESS_TOKEN_TYPE }).sign(privateKey),
        );
      });
    }

    for (const alg of ["HS256", "HS512"] as const) {
      test(`${alg}, signed with a random secret under our kid`, async () => {
        const secret = crypto.getRandomValues(new Uint8Array(64));
        await expectTokenRefused(
          await new SignJWT(claims()).setProtectedHeader({ alg, kid, typ: ACCESS_TOKEN_TYPE }).sign(secret),
        );
      });
    }

    test('alg "Ed25519" (a valid signature by our key, but not the pinned identifier)', async () => {
      await expectTokenRefused(await handSigned(header({ alg: "Ed25519" }), claims()));
    });

    test("EdDSA signed by another Ed25519 key under our kid", async () => {
      const attacker = await attackerKey();
      await expectTokenRefused(await handSigned(header(), claims(), attacker.privateKey));
    });
  });

  describe("claim attacks (signed with the real key)", () => {
    const cases: [string, () => Record<string, unknown>][] = [
      ["missing exp", () => claims({ exp: undefined })],
      ["expired exp (past the clock skew)", () => claims({ iat: nowSeconds() - TTL - 60, exp: nowSeconds() - 60 })],
      ["exp far in the future", () => claims({ exp: nowSeconds() + 10 * 365 * 86_400 })],
      ["exp a minute past the TTL", () => claims({ exp: nowSeconds() + TTL + 60 })],
      ["exp as a string", () => claims({ exp: String(nowSeconds() + TTL) })],
      ["nbf in the future", () => claims({ nbf: nowSeconds() + 120 })],
      ["iat in the future", () => claims({ iat: nowSeconds() + 120, exp: nowSeconds() + 120 + TTL })],
      ["iat older than the TTL", () => claims({ iat: nowSeconds() - TTL - 120, exp: nowSeconds() + 60 })],
      ["missing iat", () => claims({ iat: undefined })],
      ["missing sub", () => claims({ sub: undefined })],
      ["empty sub", () => claims({ sub: "" })],
      ["missing jti", () => claims({ jti: undefined })],
      ["missing sid", () => claims({ sid: undefined })],
      ["sid not a string", () => claims({ sid: 42 })],
      ["wrong aud", () => claims({ aud: "another-api" })],
      ["missing aud", () => claims({ aud: undefined })],
      ["wrong iss", () => claims({ iss: "https://attacker.example" })],
      ["missing iss", () => claims({ iss: undefined })],
    ];
    for (const [name, make] of cases) {
      test(name, async () => {
        await expectTokenRefused(await handSigned(header(), make()));
      });
    }

    test("a claims set that is not an object", async () => {
      await expectTokenRefused(await handSigned(header(), [claims()]));
    });

    for (const [name, typ] of [
      ["missing typ", undefined],
      ['typ "JWT"', "JWT"],
      ['typ "refresh+jwt"', "refresh+jwt"],
    ] as const) {
      test(name, async () => {
        await expectTokenRefused(await handSigned(header({ typ }), claims()));
      });
    }
  });

  describe("key selection attacks", () => {
    for (const [name, value] of [
      ["path traversal", "../../etc/passwd"],
      ["SQL injection", "' OR 1=1 --"],
      ["an unknown, well-formed kid", "00000000-0000-4000-8000-000000000000"],
      ["a number", 7],
      ["missing", undefined],
    ] as const) {
      test(`kid: ${name}`, async () => {
        await expectTokenRefused(await handSigned(header({ kid: value }), claims()));
      });
    }

    test("another ring key's kid on a token our current key signed", async () => {
      await expectTokenRefused(await handSigned(header({ kid: otherKid }), claims()));
    });

    test("jku and x5u pointing at the attacker's key set, signed by the attacker", async () => {
      const attacker = await attackerKey();
      for (const name of ["jku", "x5u"]) {
        await expectTokenRefused(
          await handSigned(header({ kid: attacker.kid, [name]: ATTACKER_URL }), claims(), attacker.privateKey),
        );
      }
    });

    test("jwk embedding the attacker's public key, signed by the attacker", async () => {
      const attacker = await attackerKey();
      await expectTokenRefused(
        await handSigned(
          header({ kid: attacker.kid, jwk: { ...attacker.jwk, kid: attacker.kid } }),
          claims(),
          attacker.privateKey,
        ),
      );
      await expectTokenRefused(
        await handSigned(header({ kid: undefined, jwk: attacker.jwk }), claims(), attacker.privateKey),
      );
    });

    test("x5c carrying a certificate chain, signed by the attacker", async () => {
      const attacker = await attackerKey();
      await expectTokenRefused(
        await handSigned(
          header({ kid: attacker.kid, x5c: [b64url(crypto.getRandomValues(new Uint8Array(300)))] }),
          claims(),
          attacker.privateKey,
        ),
      );
    });

    test("jku, x5u, jwk or x5c are refused even on a token our own key signed", async () => {
      for (const extra of [{ jku: ATTACKER_URL }, { x5u: ATTACKER_URL }, { jwk: publicJwk }, { x5c: ["MIIB"] }]) {
        await expectTokenRefused(await handSigned(header(extra), claims()));
      }
    });

    test("crit naming an unknown extension", async () => {
      await expectTokenRefused(
        await handSigned(
          header({ crit: ["https://attacker.example/ext"], "https://attacker.example/ext": true }),
          claims(),
        ),
      );
    });

    test("an unencoded payload (b64: false under crit)", async () => {
      const head = header({ b64: false, crit: ["b64"] });
      const payload = JSON.stringify(claims());
      const signature = new Uint8Array(
        await crypto.subtle.sign("Ed25519", signingKey, encoder.encode(`${segment(head)}.${payload}`)),
      );
      await expectTokenRefused(`${segment(head)}.${b64url(payload)}.${b64url(signature)}`);
    });
  });

  describe("encoding and integrity attacks", () => {
    test("tampered payload: claims re-encoded for another user, signature kept", async () => {
      const [head, payload, signature] = genuine.split(".") as [string, string, string];
      const claimsSet = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
      await expectTokenRefused(`${head}.${segment({ ...claimsSet, sub: crypto.randomUUID() })}.${signature}`);
    });

    test("tampered header: typ changed, signature kept", async () => {
      const [, payload, signature] = genuine.split(".") as [string, string, string];
      await expectTokenRefused(`${segment(header({ typ: "application/at+jwt", extra: 1 }))}.${payload}.${signature}`);
    });

    test("stripped signature, with and without the trailing dot", async () => {
      const [head, payload] = genuine.split(".") as [string, string, string];
      await expectTokenRefused(`${head}.${payload}.`);
      await expectTokenRefused(`${head}.${payload}`);
    });

    test("malformed signatures: truncated, lengthened, not base64url, standard base64, all zero", async () => {
      const [head, payload, signature] = genuine.split(".") as [string, string, string];
      const standard = Buffer.from(signature, "base64url").toString("base64");
      for (const bad of [
        signature.slice(0, -10),
        `${signature}AAAA`,
        "!!!!not*base64!!!!",
        standard,
        b64url(new Uint8Array(64)),
      ]) {
        await expectTokenRefused(`${head}.${payload}.${bad}`);
      }
    });

    test("the genuine signature spelled differently: padded, with a space inside, non-zero unused bits", async () => {
      const [head, payload, signature] = genuine.split(".") as [string, string, string];
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const lastBitsSet = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1) as string) | 1];
      for (const variant of [`${signature}==`, `${signature.slice(0, 20)} ${signature.slice(20)}`, lastBitsSet]) {
        await expectTokenRefused(`${head}.${payload}.${variant}`);
      }
    });

    test("every single-character substitution anywhere in a genuine token is refused, none with a 5xx", async () => {
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      for (let i = 0; i < genuine.length; i++) {
        const char = genuine[i] as string;
        if (char === ".") continue;
        const replacement = alphabet[(alphabet.indexOf(char) + 1) % alphabet.length] as string;
        await expectTokenRefused(genuine.slice(0, i) + replacement + genuine.slice(i + 1));
      }
    });

    test("wrong shapes: four parts, a JWE's five parts, a header that is not JSON or not an object", async () => {
      const [head, payload, signature] = genuine.split(".") as [string, string, string];
      await expectTokenRefused(`${head}.${payload}.${signature}.${signature}`);
      await expectTokenRefused(`${head}.${payload}.${payload}.${payload}.${signature}`);
      await expectTokenRefused(`${b64url("not json")}.${payload}.${signature}`);
      await expectTokenRefused(`${segment([header()])}.${payload}.${signature}`);
    });

    test("a 64 KB token, even one our key signed", async () => {
      const padded = await handSigned(header(), claims({ padding: "x".repeat(64 * 1024) }));
      expect(padded.length).toBeGreaterThan(MAX_ACCESS_TOKEN_BYTES);
      await expectTokenRefused(padded);
      await expectTokenRefused(b64url(crypto.getRandomValues(new Uint8Array(48 * 1024))));
    });

    test("a refresh token (opaque random string) presented as an access token", async () => {
      await expectTokenRefused(b64url(crypto.getRandomValues(new Uint8Array(32))));
      await expectTokenRefused(`${crypto.randomUUID()}.${b64url(crypto.getRandomValues(new Uint8Array(32)))}`);
    });

    test("the token under another scheme or with the scheme in lower case", async () => {
      for (const authorization of [
        `bearer ${genuine}`,
        `Basic ${genuine}`,
        genuine,
        "Bearer ",
        `Bearer ${genuine},${genuine}`,
      ]) {
        await expectRefused(authorization);
      }
    });
  });

  describe("revocation", () => {
    test("a valid token of a revoked session is refused", async () => {
      const sessionId = crypto.randomUUID();
      const { token } = await signAccessToken(await runtime.services.identity.keyRing.get(), runtime.config.auth, {
        userId: USER_ID,
        sessionId,
      });
      expect((await call(app, `Bearer ${token}`)).status).toBe(200);
      await runtime.services.identity.revocations.revoke(sessionId);
      await expectTokenRefused(token);
    });
  });
});

describe.each(DATABASE_BACKENDS)("tokens and key retirement on %s", (backend: DatabaseBackend) => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend, env: { TRUST_PROXY: "1" } });
    app = buildApp(runtime, [probe]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("a token signed by a retiring key is accepted; once the key is retired it is refused", async () => {
    const { keyRing, encryptor } = runtime.services.identity;
    const { token } = await signAccessToken(await keyRing.get(), runtime.config.auth, {
      userId: USER_ID,
      sessionId: crypto.randomUUID(),
    });
    // Stamped 1 ms back: the next rotation finds the key retiring for longer than 0 ms without waiting.
    await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0, now: () => Date.now() - 1 });
    keyRing.invalidate();
    expect((await call(app, `Bearer ${token}`)).status).toBe(200);
    await rotateSigningKeys(runtime.db.primary, encryptor, { retireAfterMs: 0 });
    keyRing.invalidate();
    expect(await refusalOf(await call(app, `Bearer ${token}`))).toEqual(REFUSED);
  });

  test("a token with an unknown kid is refused after the ring is reloaded from this database", async () => {
    const { token } = await signAccessToken(await runtime.services.identity.keyRing.get(), runtime.config.auth, {
      userId: USER_ID,
      sessionId: crypto.randomUUID(),
    });
    const [, payload, signature] = token.split(".") as [string, string, string];
    const header = segment({ alg: "EdDSA", kid: crypto.randomUUID(), typ: ACCESS_TOKEN_TYPE });
    const forged = `${header}.${payload}.${signature}`;
    expect(await refusalOf(await call(app, `Bearer ${forged}`))).toEqual(REFUSED);
  });
});

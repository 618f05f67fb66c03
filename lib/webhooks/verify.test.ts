import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { verifyDelivery } from "./verify.ts";
import { importHmacKey, signingKeyBytes, type WebhookKind } from "./webhook-secret.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

async function keyFor(kind: WebhookKind, secret: string): Promise<CryptoKey> {
  const material = signingKeyBytes(kind, secret);
  if (typeof material === "string") throw new Error(material);
  return importHmacKey(material);
}

// The two vectors of the Standard Webhooks specification's libraries ("sign function works").
const VECTORS = [
  {
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: 1614265330,
    body: '{"test": 2432232314}',
    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  },
  {
    secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    timestamp: 1649367553,
    body: '{"email":"test@example.com","username":"test_user"}',
    signature: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
  },
];

const standardHeaders = (id: string, timestamp: number | string, signature: string, prefix = "webhook") =>
  new Headers({ [`${prefix}-id`]: id, [`${prefix}-timestamp`]: String(timestamp), [`${prefix}-signature`]: signature });

/** An independent signer (node:crypto), so the verifier is not checked against itself. */
function signStandard(secret: string, id: string, timestamp: number | string, body: string): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

describe("Standard Webhooks", () => {
  for (const [i, vector] of VECTORS.entries()) {
    test(`official vector ${i + 1} verifies at its timestamp and is refused now`, async () => {
      const key = await keyFor("standard", vector.secret);
      const headers = standardHeaders(vector.id, vector.timestamp, vector.signature);
      expect(await verifyDelivery("standard", headers, bytes(vector.body), [key], vector.timestamp * 1000)).toEqual({
        ok: true,
        externalId: vector.id,
        signedAtMs: vector.timestamp * 1000,
      });
      expect(await verifyDelivery("standard", headers, bytes(vector.body), [key], Date.now())).toEqual({
        ok: false,
        reason: "the timestamp is outside the tolerance",
      });
    });
  }

  const [vector] = VECTORS as [(typeof VECTORS)[0]];
  const at = vector.timestamp * 1000;
  const check = async (headers: Headers, body = vector.body, secret = vector.secret, now = at) =>
    verifyDelivery("standard", headers, bytes(body), [await keyFor("standard", secret)], now);

  test("a tampered body, a swapped id or another secret is refused", async () => {
    const wrong = { ok: false, reason: "no signature matches" } as const;
    expect(await check(standardHeaders(vector.id, vector.timestamp, vector.signature), '{"test": 2432232315}')).toEqual(
      wrong,
    );
    expect(await check(standardHeaders("msg_other", vector.timestamp, vector.signature))).toEqual(wrong);
    const other = `whsec_${Buffer.from(new Uint8Array(32).fill(7)).toString("base64")}`;
    expect(await check(standardHeaders(vector.id, vector.timestamp, vector.signature), vector.body, other)).toEqual(
      wrong,
    );
  });

  test("only v1 counts: a v2 or v1a signature alone is refused, beside a good v1 it is ignored", async () => {
    const value = vector.signature.slice(3);
    expect(await check(standardHeaders(vector.id, vector.timestamp, `v2,${value} v1a,${value}`))).toEqual({
      ok: false,
      reason: "no v1 signature",
    });
    expect((await check(standardHeaders(vector.id, vector.timestamp, `v2,abc ${vector.signature}`))).ok).toBe(true);
  });

  test("timestamps are strict digits within ±300 s", async () => {
    const signed = (timestamp: string) =>
      standardHeaders(vector.id, timestamp, signStandard(vector.secret, vector.id, timestamp, vector.body));
    expect((await check(signed(String(vector.timestamp + 300)))).ok).toBe(true);
    expect((await check(signed(String(vector.timestamp - 300)))).ok).toBe(true);
    for (const late of [vector.timestamp + 301, vector.timestamp - 301])
      expect(await check(signed(String(late)))).toEqual({
        ok: false,
        reason: "the timestamp is outside the tolerance",
      });
    for (const malformed of [`${vector.timestamp}abc`, "123abc", "", "-1614265330", "1e9"])
      expect(await check(signed(malformed))).toEqual({ ok: false, reason: "the timestamp is missing or not digits" });
  });

  test("ids holding a dot or over 256 characters are refused", async () => {
    for (const id of ["msg.1", "x".repeat(257), ""]) {
      const headers = standardHeaders(
        id,
        vector.timestamp,
        signStandard(vector.secret, id, vector.timestamp, vector.body),
      );
      expect(await check(headers)).toEqual({
        ok: false,
        reason: "the delivery id is missing, too long or holds a dot",
      });
    }
  });

  test("while a secret rotates, a signature by either live secret, or both, is accepted", async () => {
    const next = `whsec_${Buffer.from(new Uint8Array(32).fill(9)).toString("base64")}`;
    const keys = [await keyFor("standard", vector.secret), await keyFor("standard", next)];
    const byNext = signStandard(next, vector.id, vector.timestamp, vector.body);
    for (const signature of [vector.signature, byNext, `${vector.signature} ${byNext}`])
      expect(
        (
          await verifyDelivery(
            "standard",
            standardHeaders(vector.id, vector.timestamp, signature),
            bytes(vector.body),
            keys,
            at,
          )
        ).ok,
      ).toBe(true);
    // Once the old secret is no longer live, its signature alone is refused.
    const onlyNext = [await keyFor("standard", next)];
    const headers = standardHeaders(vector.id, vector.timestamp, vector.signature);
    expect((await verifyDelivery("standard", headers, bytes(vector.body), onlyNext, at)).ok).toBe(false);
  });

  test("Svix deliveries verify under svix-* headers and under white-labelled webhook-* ones", async () => {
    const key = await keyFor("svix", vector.secret);
    for (const prefix of ["svix", "webhook"]) {
      const headers = standardHeaders(vector.id, vector.timestamp, vector.signature, prefix);
      expect((await verifyDelivery("svix", headers, bytes(vector.body), [key], at)).ok).toBe(true);
    }
  });

  test("a body that is not UTF-8 is verified over its bytes", async () => {
    const body = new Uint8Array([0xff, 0xfe, 0x00, 0x80]);
    const key = Buffer.from(vector.secret.slice("whsec_".length), "base64");
    const signature = createHmac("sha256", key)
      .update(Buffer.concat([Buffer.from(`${vector.id}.${vector.timestamp}.`), body]))
      .digest("base64");
    const headers = standardHeaders(vector.id, vector.timestamp, `v1,${signature}`);
    expect((await verifyDelivery("standard", headers, body, [await keyFor("standard", vector.secret)], at)).ok).toBe(
      true,
    );
  });
});

describe("GitHub", () => {
  const secret = "It's a Secret to Everybody";

  test("the documented vector verifies, and a sha1 signature alone is refused", async () => {
    const key = await keyFor("github", secret);
    const headers = new Headers({
      "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    });
    expect(await verifyDelivery("github", headers, bytes("Hello, World!"), [key], Date.now())).toEqual({
      ok: true,
      externalId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      signedAtMs: undefined,
    });
    expect((await verifyDelivery("github", headers, bytes("Hello, World?"), [key], Date.now())).ok).toBe(false);
    const sha1Only = new Headers({
      "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      "x-hub-signature": `sha1=${createHmac("sha1", secret).update("Hello, World!").digest("hex")}`,
    });
    expect(await verifyDelivery("github", sha1Only, bytes("Hello, World!"), [key], Date.now())).toEqual({
      ok: false,
      reason: "no sha256 signature",
    });
  });
});

describe("Stripe", () => {
  const secret = "whsec_test0123456789abcdefABCDEF";
  const body = '{"id":"evt_1","type":"payment_intent.succeeded"}';
  const sign = (timestamp: number | string, key = secret) =>
    createHmac("sha256", key).update(`${timestamp}.${body}`).digest("hex");

  test("the secret signs as its UTF-8 text; any v1 may match; other versions and times are refused", async () => {
    const key = await keyFor("stripe", secret);
    const now = 1_700_000_000_000;
    const t = now / 1000;
    const verify = (header: string, at = now) =>
      verifyDelivery("stripe", new Headers({ "stripe-signature": header }), bytes(body), [key], at);
    expect(await verify(`t=${t},v1=${sign(t)}`)).toEqual({ ok: true, externalId: undefined, signedAtMs: now });
    expect((await verify(`t=${t},v1=${"0".repeat(64)},v1=${sign(t)},v0=${"1".repeat(64)}`)).ok).toBe(true);
    expect(await verify(`t=${t},v0=${sign(t)}`)).toEqual({ ok: false, reason: "no v1 signature" });
    expect((await verify(`t=${t},v1=${sign(t, "whsec_other")}`)).ok).toBe(false);
    expect((await verify(`t=${t},v1=${sign(t)}`, now + 301_000)).ok).toBe(false);
    expect(await verify(`t=${t}abc,v1=${sign(`${t}abc`)}`)).toEqual({
      ok: false,
      reason: "the timestamp is missing or not digits",
    });
  });
});

describe("signing secrets are checked when stored", () => {
  test("a pasted signature, a secret without whsec_ or of the wrong length is refused with the reason", () => {
    expect(signingKeyBytes("standard", "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).toBe(
      "this looks like a signature (v1,…), not a secret: paste the whsec_… value",
    );
    expect(signingKeyBytes("standard", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).toBe(
      "a Standard Webhooks secret is whsec_ followed by base64",
    );
    expect(signingKeyBytes("svix", `whsec_${Buffer.from("short").toString("base64")}`)).toBe(
      "a Standard Webhooks secret holds 24 to 64 bytes",
    );
    expect(signingKeyBytes("stripe", "sk_live_123")).toBe("a Stripe signing secret is whsec_ + letters");
    expect(signingKeyBytes("github", "")).toBe("a signing secret is 1 to 256 characters");
    expect(signingKeyBytes("standard", VECTORS[0]?.secret ?? "")).toBeInstanceOf(Uint8Array);
  });
});

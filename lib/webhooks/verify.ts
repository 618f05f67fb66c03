/**
 * Verifies an inbound delivery over its raw bytes, before anything parses them, against every live secret
 * and every signature the sender put in its header (a sender rotating its secret sends several):
 *
 *   standard, svix  webhook-* (svix-*) id, timestamp, signature: HMAC-SHA256 of `id.timestamp.body`, `v1,<base64>`
 *   stripe          Stripe-Signature `t=<ts>,v1=<hex>…`: HMAC-SHA256 of `t.body`
 *   github          X-Hub-Signature-256 `sha256=<hex>` of the body; X-GitHub-Delivery names it; no timestamp
 *
 * Timestamps are 1–12 digits within ±300 s of now; ids hold no `.` and at most 256 characters; signature
 * versions other than v1 (and GitHub's sha1) are never accepted.
 */
import { bytesEqual, hmac, type WebhookKind } from "./webhook-secret.ts";

export const TIMESTAMP_TOLERANCE_MS = 300_000;
export const MAX_DELIVERY_ID_LENGTH = 256;

export type Verification =
  | { readonly ok: true; readonly externalId: string | undefined; readonly signedAtMs: number | undefined }
  | { readonly ok: false; readonly reason: string };

const refused = (reason: string): Verification => ({ ok: false, reason });
const TIMESTAMP = /^\d{1,12}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;
const encoder = new TextEncoder();

function concat(prefix: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = encoder.encode(prefix);
  const content = new Uint8Array(head.byteLength + body.byteLength);
  content.set(head);
  content.set(body, head.byteLength);
  return content;
}

function timestampWithin(value: string | null, nowMs: number): number | string {
  if (value === null || !TIMESTAMP.test(value)) return "the timestamp is missing or not digits";
  const signedAtMs = Number(value) * 1000;
  if (Math.abs(nowMs - signedAtMs) > TIMESTAMP_TOLERANCE_MS) return "the timestamp is outside the tolerance";
  return signedAtMs;
}

async function anyMatches(keys: readonly CryptoKey[], content: Uint8Array<ArrayBuffer>, candidates: Uint8Array[]) {
  let matched = false;
  // Every key against every candidate, so the time taken does not say which one matched.
  for (const key of keys) {
    const expected = await hmac(key, content);
    for (const candidate of candidates) if (bytesEqual(expected, candidate)) matched = true;
  }
  return matched;
}

function idOf(value: string | null): string | undefined {
  if (value === null || value.length === 0 || value.length > MAX_DELIVERY_ID_LENGTH || value.includes("."))
    return undefined;
  return value;
}

async function verifyStandard(
  prefix: string,
  headers: Headers,
  body: Uint8Array<ArrayBuffer>,
  keys: readonly CryptoKey[],
  now: number,
) {
  const header = (name: string) => headers.get(`${prefix}-${name}`);
  const id = idOf(header("id"));
  if (id === undefined) return refused("the delivery id is missing, too long or holds a dot");
  const signedAtMs = timestampWithin(header("timestamp"), now);
  if (typeof signedAtMs === "string") return refused(signedAtMs);
  const candidates = (header("signature") ?? "")
    .split(" ")
    .filter((entry) => entry.startsWith("v1,") && BASE64_SHA256.test(entry.slice(3)))
    .map((entry) => new Uint8Array(Buffer.from(entry.slice(3), "base64")));
  if (candidates.length === 0) return refused("no v1 signature");
  const content = concat(`${id}.${signedAtMs / 1000}.`, body);
  return (await anyMatches(keys, content, candidates))
    ? ({ ok: true, externalId: id, signedAtMs } as const)
    : refused("no signature matches");
}

async function verifyStripe(headers: Headers, body: Uint8Array<ArrayBuffer>, keys: readonly CryptoKey[], now: number) {
  const fields = (headers.get("stripe-signature") ?? "").split(",").map((field) => field.split("="));
  const timestamps = fields.filter(([name]) => name === "t");
  if (timestamps.length !== 1) return refused("the signature header holds no single timestamp");
  const signedAtMs = timestampWithin(timestamps[0]?.[1] ?? null, now);
  if (typeof signedAtMs === "string") return refused(signedAtMs);
  const candidates = fields
    .filter(([name, value]) => name === "v1" && value !== undefined && HEX_SHA256.test(value))
    .map(([, value]) => new Uint8Array(Buffer.from(value as string, "hex")));
  if (candidates.length === 0) return refused("no v1 signature");
  // Stripe names the event in the body; the receiver reads its id once the bytes are verified.
  return (await anyMatches(keys, concat(`${signedAtMs / 1000}.`, body), candidates))
    ? ({ ok: true, externalId: undefined, signedAtMs } as const)
    : refused("no signature matches");
}

async function verifyGithub(headers: Headers, body: Uint8Array<ArrayBuffer>, keys: readonly CryptoKey[]) {
  const id = idOf(headers.get("x-github-delivery"));
  if (id === undefined) return refused("the delivery id is missing, too long or holds a dot");
  const signature = headers.get("x-hub-signature-256");
  const hex = signature?.startsWith("sha256=") ? signature.slice("sha256=".length) : undefined;
  if (hex === undefined || !HEX_SHA256.test(hex)) return refused("no sha256 signature");
  return (await anyMatches(keys, body, [new Uint8Array(Buffer.from(hex, "hex"))]))
    ? ({ ok: true, externalId: id, signedAtMs: undefined } as const)
    : refused("no signature matches");
}

/** Whether `body`, as received, was signed by one of `keys` under `kind`'s scheme, at a time near `nowMs`. */
export function verifyDelivery(
  kind: WebhookKind,
  headers: Headers,
  body: Uint8Array<ArrayBuffer>,
  keys: readonly CryptoKey[],
  nowMs: number,
): Promise<Verification> {
  switch (kind) {
    case "standard":
      return verifyStandard("webhook", headers, body, keys, nowMs);
    case "svix":
      // Svix sends svix-*; senders white-labelling it send webhook-*.
      return verifyStandard(headers.has("svix-id") ? "svix" : "webhook", headers, body, keys, nowMs);
    case "stripe":
      return verifyStripe(headers, body, keys, nowMs);
    case "github":
      return verifyGithub(headers, body, keys);
  }
}

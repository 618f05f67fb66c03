/**
 * Webhook signing secrets by scheme, checked when stored: Standard Webhooks and Svix use `whsec_` + base64 of
 * 24–64 bytes (the key is the decoded bytes); Stripe's `whsec_…` is used as its UTF-8 text; GitHub's is any text.
 * A pasted signature (`v1,whsec_…`) or a secret of the wrong shape is refused with a message that says why.
 */
import { timingSafeEqual } from "node:crypto";

export const WEBHOOK_KINDS = ["standard", "svix", "stripe", "github"] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

const STANDARD_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const MAX_TEXT_SECRET = 256;

/** The bytes an HMAC is keyed with, or the reason the secret is not one of `kind`'s. */
export function signingKeyBytes(kind: WebhookKind, secret: string): Uint8Array<ArrayBuffer> | string {
  if (/^v\d+[a-z]?,/.test(secret)) return "this looks like a signature (v1,…), not a secret: paste the whsec_… value";
  if (kind === "standard" || kind === "svix") {
    const base64 = STANDARD_SECRET.exec(secret)?.[1];
    if (base64 === undefined) return "a Standard Webhooks secret is whsec_ followed by base64";
    const bytes = Buffer.from(base64, "base64");
    if (bytes.byteLength < MIN_KEY_BYTES || bytes.byteLength > MAX_KEY_BYTES)
      return `a Standard Webhooks secret holds ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes`;
    return new Uint8Array(bytes);
  }
  if (kind === "stripe" && !/^whsec_[A-Za-z0-9]+$/.test(secret)) return "a Stripe signing secret is whsec_ + letters";
  if (secret.length === 0 || secret.length > MAX_TEXT_SECRET)
    return `a signing secret is 1 to ${MAX_TEXT_SECRET} characters`;
  return new TextEncoder().encode(secret);
}

/** An HMAC-SHA256 key, imported once and kept: importing per call costs more than the signature itself. */
export function importHmacKey(bytes: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

export async function hmac(key: CryptoKey, content: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, content));
}

/** Constant time for equal lengths; a length mismatch is a wrong signature anyway. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

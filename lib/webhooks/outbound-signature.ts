/**
 * Standard Webhooks signing for outbound deliveries: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
 * live secret, space-separated, so a receiver holding either secret during a rotation verifies the delivery.
 */
import { hmac, importHmacKey, signingKeyBytes } from "./webhook-secret.ts";

const encoder = new TextEncoder();

/** The HMAC key of a `whsec_` secret; throws on a secret Rampart could not have generated. */
export async function endpointSigningKey(secret: string): Promise<CryptoKey> {
  const bytes = signingKeyBytes("standard", secret);
  if (typeof bytes === "string") throw new Error(`a stored endpoint secret is malformed: ${bytes}`);
  return importHmacKey(bytes);
}

/** The `webhook-signature` header value for `body` sent as message `id` at `timestampSeconds`. */
export async function signatureHeader(
  keys: readonly CryptoKey[],
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<string> {
  const content = encoder.encode(`${id}.${timestampSeconds}.${body}`);
  const signatures = await Promise.all(
    keys.map(async (key) => `v1,${Buffer.from(await hmac(key, content)).toString("base64")}`),
  );
  return signatures.join(" ");
}

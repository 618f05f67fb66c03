/**
 * Secrets at rest: AES-256-GCM under versioned keys from ENCRYPTION_KEYS. The ciphertext names its key
 * version (`v2.<iv>.<data>`), so old rows stay readable after a new key is added, and the row's identity
 * is bound in as additional authenticated data, so a ciphertext copied into another row fails to decrypt.
 */
import type { EncryptionKey } from "../config/config.ts";

export type DecryptFailure = "malformed" | "unknown-version" | "retired-version" | "tampered";

export class DecryptError extends Error {
  override name = "DecryptError";
  constructor(readonly reason: DecryptFailure) {
    super(`cannot decrypt: ${reason}`);
  }
}

const IV_BYTES = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(text, "base64url"));
}

export interface Encryptor {
  readonly currentVersion: number;
  encrypt(plaintext: string, rowIdentity: string): Promise<string>;
  decrypt(ciphertext: string, rowIdentity: string): Promise<string>;
  versionOf(ciphertext: string): number | undefined;
}

export function createEncryptor(keys: readonly EncryptionKey[], retiredVersions: readonly number[] = []): Encryptor {
  const newest = keys[0];
  if (newest === undefined) throw new Error("at least one encryption key is required");
  const imported = new Map<number, Promise<CryptoKey>>();
  const keyFor = (version: number): Promise<CryptoKey> | undefined => {
    const material = keys.find((k) => k.version === version);
    if (material === undefined) return undefined;
    let key = imported.get(version);
    if (key === undefined) {
      key = crypto.subtle.importKey("raw", new Uint8Array(material.key), "AES-GCM", false, ["encrypt", "decrypt"]);
      imported.set(version, key);
    }
    return key;
  };
  const retired = new Set(retiredVersions);
  const versionOf = (ciphertext: string) => {
    const match = /^v(\d+)\./.exec(ciphertext);
    return match === null ? undefined : Number(match[1]);
  };

  return {
    currentVersion: newest.version,
    versionOf,
    async encrypt(plaintext, rowIdentity) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const key = (await keyFor(newest.version)) as CryptoKey;
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(rowIdentity) },
        key,
        encoder.encode(plaintext),
      );
      return `v${newest.version}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
    },
    async decrypt(ciphertext, rowIdentity) {
      const parts = ciphertext.split(".");
      const version = versionOf(ciphertext);
      if (parts.length !== 3 || version === undefined) throw new DecryptError("malformed");
      if (retired.has(version)) throw new DecryptError("retired-version");
      const key = keyFor(version);
      if (key === undefined) throw new DecryptError("unknown-version");
      const iv = fromBase64Url(parts[1] ?? "");
      if (iv.byteLength !== IV_BYTES) throw new DecryptError("malformed");
      try {
        const opened = await crypto.subtle.decrypt(
          { name: "AES-GCM", iv, additionalData: encoder.encode(rowIdentity) },
          await key,
          fromBase64Url(parts[2] ?? ""),
        );
        return decoder.decode(opened);
      } catch {
        throw new DecryptError("tampered");
      }
    },
  };
}

import { describe, expect, test } from "bun:test";
import { createEncryptor, DecryptError } from "./envelope-encryption.ts";

const key = (version: number, fill: number) => ({ version, key: new Uint8Array(32).fill(fill) });

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DecryptError);
    return (error as DecryptError).reason;
  }
  throw new Error("expected decryption to fail");
}

describe("envelope encryption", () => {
  test("round-trips and names the newest key version", async () => {
    const encryptor = createEncryptor([key(2, 2), key(1, 1)]);
    const sealed = await encryptor.encrypt("s3cret", "signing_keys:k1");
    expect(sealed.startsWith("v2.")).toBe(true);
    expect(sealed).not.toContain("s3cret");
    expect(await encryptor.decrypt(sealed, "signing_keys:k1")).toBe("s3cret");
  });

  test("the same plaintext encrypts differently each time", async () => {
    const encryptor = createEncryptor([key(1, 1)]);
    expect(await encryptor.encrypt("x", "r")).not.toBe(await encryptor.encrypt("x", "r"));
  });

  test("rows sealed under an older version stay readable after a new key is added", async () => {
    const old = await createEncryptor([key(1, 1)]).encrypt("legacy", "row:1");
    const rotated = createEncryptor([key(2, 2), key(1, 1)]);
    expect(rotated.versionOf(old)).toBe(1);
    expect(await rotated.decrypt(old, "row:1")).toBe("legacy");
  });

  test("a ciphertext moved to another row fails", async () => {
    const encryptor = createEncryptor([key(1, 1)]);
    const sealed = await encryptor.encrypt("secret", "signing_keys:a");
    expect(await failure(encryptor.decrypt(sealed, "signing_keys:b"))).toBe("tampered");
  });

  test("tampering with any part fails", async () => {
    const encryptor = createEncryptor([key(1, 1)]);
    const sealed = await encryptor.encrypt("secret", "r");
    const [version, iv, data] = sealed.split(".") as [string, string, string];
    const flipped = data.slice(0, 5) + (data[5] === "A" ? "B" : "A") + data.slice(6);
    expect(await failure(encryptor.decrypt(`${version}.${iv}.${flipped}`, "r"))).toBe("tampered");
    expect(await failure(encryptor.decrypt(`${version}.${iv}`, "r"))).toBe("malformed");
  });

  test("an unknown version and a retired version are refused", async () => {
    const sealed = await createEncryptor([key(3, 3)]).encrypt("x", "r");
    expect(await failure(createEncryptor([key(1, 1)]).decrypt(sealed, "r"))).toBe("unknown-version");
    expect(await failure(createEncryptor([key(3, 3)], [3]).decrypt(sealed, "r"))).toBe("retired-version");
  });
});

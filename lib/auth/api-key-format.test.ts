import { describe, expect, test } from "bun:test";
import { API_KEY_CHECKSUM_CHARS, API_KEY_RANDOM_CHARS, createApiKeyFormat, hashApiKey } from "./api-key-format.ts";

const format = createApiKeyFormat("rk");
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe("API key format", () => {
  test("a key is the prefix, 43 random base62 characters and a 6-character checksum", () => {
    const { key, hash, visiblePrefix } = format.generate();
    expect(key).toMatch(new RegExp(`^rk_[0-9A-Za-z]{${API_KEY_RANDOM_CHARS + API_KEY_CHECKSUM_CHARS}}$`));
    expect(hash).toBe(new Bun.CryptoHasher("sha256").update(key).digest("hex"));
    expect(hashApiKey(key)).toBe(hash);
    expect(visiblePrefix).toBe(key.slice(0, 9));
    expect(format.isWellFormed(key)).toBe(true);
  });

  test("keys do not repeat and use the whole alphabet evenly", () => {
    const keys = Array.from({ length: 2_000 }, () => format.generate().key);
    expect(new Set(keys).size).toBe(keys.length);
    const counts = new Map<string, number>();
    for (const key of keys)
      for (const char of key.slice(3, 3 + API_KEY_RANDOM_CHARS)) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 86,000 characters over 62 symbols: about 1,387 each; a modulo bias would push some far off.
    for (const count of counts.values()) expect(Math.abs(count - 86_000 / 62)).toBeLessThan(200);
  });

  test("every single-character substitution is caught by the checksum", () => {
    const { key } = format.generate();
    let caught = 0;
    let total = 0;
    for (let i = 3; i < key.length; i++) {
      for (const char of ALPHABET) {
        if (char === key[i]) continue;
        total++;
        if (!format.isWellFormed(`${key.slice(0, i)}${char}${key.slice(i + 1)}`)) caught++;
      }
    }
    // A 32-bit checksum lets about one in four billion through; none of these three thousand may pass.
    expect(caught).toBe(total);
  });

  test("swapped neighbours, truncation, extra characters and other alphabets are refused", () => {
    const { key } = format.generate();
    let swapAt = 3;
    while (key[swapAt] === key[swapAt + 1]) swapAt++;
    const swapped = `${key.slice(0, swapAt)}${key[swapAt + 1]}${key[swapAt]}${key.slice(swapAt + 2)}`;
    for (const bad of [
      swapped,
      key.slice(0, -1),
      `${key}0`,
      `${key.slice(0, 20)}-${key.slice(21)}`,
      `${key.slice(0, 20)}é${key.slice(21)}`,
      key.toUpperCase(),
      ` ${key}`,
      "",
    ]) {
      expect({ bad, wellFormed: format.isWellFormed(bad) }).toEqual({ bad, wellFormed: false });
    }
  });

  test("isApiKey tells keys from JWTs by the prefix alone", () => {
    expect(format.isApiKey("rk_anything")).toBe(true);
    expect(format.isApiKey("eyJhbGciOiJFZERTQSJ9.e30.sig")).toBe(false);
    expect(format.isApiKey("rkx_abc")).toBe(false);
    const other = createApiKeyFormat("acme");
    const { key } = other.generate();
    expect(key.startsWith("acme_")).toBe(true);
    expect(other.isWellFormed(key)).toBe(true);
    expect(format.isWellFormed(`rk_${key.slice(5)}`)).toBe(false);
  });
});

import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { sha256, sha256Hex } from "./sha256.ts";

test("sha256 matches the standard digest, for ASCII and for non-ASCII input", () => {
  expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (const input of ["", "rk_0123456789abcdef", "caf\u00e9 \u{1F600}"]) {
    expect(sha256Hex(input)).toBe(createHash("sha256").update(input).digest("hex"));
    expect([...sha256(input)]).toEqual([...createHash("sha256").update(input).digest()]);
  }
});

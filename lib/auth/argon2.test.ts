import { describe, expect, test } from "bun:test";
import { bunArgon2, platformArgon2, wasmArgon2 } from "./argon2.ts";

const CHEAP = { memoryCost: 1_024, timeCost: 1 };

describe("argon2id backends", () => {
  test("Bun uses its native argon2id", () => {
    expect(platformArgon2.name).toBe("bun");
  });

  test(
    "the WebAssembly backend (Deno) hashes with the requested cost and " + "salt, and verifies only the same password",
    async () => {
      const first = await wasmArgon2.hash("correct horse battery", CHEAP);
      expect(first).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
      expect(first).not.toBe(await wasmArgon2.hash("correct horse battery", CHEAP));
      expect(await wasmArgon2.verify("correct horse battery", first)).toBe(true);
      expect(await wasmArgon2.verify("correct horse batterY", first)).toBe(false);
    },
  );

  test(
    "a hash made on one platform verifies on the other, so accounts " + "survive a move between Bun and Deno",
    async () => {
      const onBun = await bunArgon2.hash("s3cret enough", CHEAP);
      const onWasm = await wasmArgon2.hash("s3cret enough", CHEAP);
      expect(await wasmArgon2.verify("s3cret enough", onBun)).toBe(true);
      expect(await bunArgon2.verify("s3cret enough", onWasm)).toBe(true);
      expect(await wasmArgon2.verify("not it", onBun)).toBe(false);
    },
  );

  test(
    "both backends answer false for what is not an argon2id hash, and " +
      "throw for a corrupt one rather than call it a wrong password",
    async () => {
      const bcrypt = await Bun.password.hash("s3cret enough", { algorithm: "bcrypt", cost: 4 });
      for (const backend of [bunArgon2, wasmArgon2]) {
        for (const stored of [bcrypt, "", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"]) {
          expect(await backend.verify("s3cret enough", stored)).toBe(false);
        }
        expect(backend.verify("s3cret enough", "$argon2id$v=19$garbage")).rejects.toThrow();
      }
    },
  );
});

/**
 * argon2id with PHC-encoded hashes, from the platform: Bun's native `Bun.password` where it exists,
 * hash-wasm's WebAssembly build elsewhere (Deno Deploy), which is about twice as slow. Both read and
 * write the same encoding, so a hash made on one verifies on the other.
 */
import { argon2id, argon2Verify } from "hash-wasm";

export interface Argon2Cost {
  /** KiB */
  memoryCost: number;
  timeCost: number;
}

export interface Argon2 {
  readonly name: "bun" | "wasm";
  hash(password: string, cost: Argon2Cost): Promise<string>;
  verify(password: string, encoded: string): Promise<boolean>;
}

const SALT_BYTES = 16;
const HASH_BYTES = 32;

// On both backends anything that is not an argon2id hash does not match, and a corrupt one throws
// rather than pass for a wrong password.
const isArgon2id = (encoded: string) => encoded.startsWith("$argon2id$");

export const bunArgon2: Argon2 = {
  name: "bun",
  hash: (password, cost) => Bun.password.hash(password, { algorithm: "argon2id", ...cost }),
  verify: async (password, encoded) =>
    isArgon2id(encoded) && (await Bun.password.verify(password, encoded, "argon2id")),
};

export const wasmArgon2: Argon2 = {
  name: "wasm",
  hash: (password, cost) =>
    argon2id({
      password,
      salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
      parallelism: 1,
      iterations: cost.timeCost,
      memorySize: cost.memoryCost,
      hashLength: HASH_BYTES,
      outputType: "encoded",
    }),
  verify: async (password, encoded) => isArgon2id(encoded) && (await argon2Verify({ password, hash: encoded })),
};

export const platformArgon2: Argon2 = typeof globalThis.Bun?.password === "undefined" ? wasmArgon2 : bunArgon2;

/** A key's or identity's metadata: the owner's JSON, returned on every verification, so it is kept small. */
import { AppError } from "../errors/app-error.ts";

/** Bytes of the metadata's JSON: it travels with each cached key and each verify answer. */
export const MAX_META_BYTES = 4_096;

export function assertMetaSize(meta: Record<string, unknown> | undefined, path = "meta"): void {
  if (meta === undefined) return;
  if (new TextEncoder().encode(JSON.stringify(meta)).byteLength <= MAX_META_BYTES) return;
  throw new AppError("VALIDATION_FAILED", undefined, {
    fields: [{ path, message: `${path} must be at most ${MAX_META_BYTES} bytes of JSON` }],
  });
}

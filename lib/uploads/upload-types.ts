/**
 * Which files may be uploaded, and how large. Only types a browser will not run as a page: SVG, HTML, XHTML and
 * XML can carry scripts, a type with parameters (`;charset=…`) is not one exact type, and an unknown one is refused.
 */
import { AppError } from "../errors/app-error.ts";

/** Allowed content types and the largest file of each, in bytes. */
export type UploadTypes = Readonly<Record<string, number>>;

const MIB = 1024 * 1024;

export const DEFAULT_UPLOAD_TYPES: UploadTypes = {
  "image/png": 10 * MIB,
  "image/jpeg": 10 * MIB,
  "image/webp": 10 * MIB,
  "image/gif": 10 * MIB,
  "application/pdf": 25 * MIB,
};

// Refused even if configured: each can be rendered as an active document.
const ACTIVE_TYPES = /^(?:text\/html|application\/xhtml\+xml|text\/xml|application\/xml|image\/svg\+xml)$|\+xml$/;
const EXACT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

/** Checks a configured list once, when the routes are built: an active or malformed type there is a mistake. */
export function assertUploadTypes(types: UploadTypes): UploadTypes {
  for (const type of Object.keys(types))
    if (!EXACT_TYPE.test(type) || ACTIVE_TYPES.test(type))
      throw new Error(`upload type ${type} cannot be allowed: only exact, non-scriptable types`);
  return types;
}

/** Throws the precise refusal for a declared type and size, before anything is reserved. */
export function checkDeclaredFile(types: UploadTypes, contentType: string, size: number): void {
  const max = EXACT_TYPE.test(contentType) && !ACTIVE_TYPES.test(contentType) ? types[contentType] : undefined;
  if (max === undefined)
    throw new AppError("UPLOAD_TYPE_NOT_ALLOWED", undefined, { contentType, allowed: Object.keys(types) });
  if (size > max) throw new AppError("UPLOAD_TOO_LARGE", undefined, { contentType, maxBytes: max });
}

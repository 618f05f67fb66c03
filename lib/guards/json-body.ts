/**
 * JSON bodies: strict UTF-8, and keys that could reach an object's prototype (`__proto__`,
 * `constructor`, `prototype`) are refused outright rather than trusted to every later merge. NUL
 * (U+0000) and lone UTF-16 surrogates are refused in any string or key: PostgreSQL cannot store them.
 */
import { AppError } from "../errors/app-error.ts";

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

const NUL = "\u0000";
// Strict UTF-8 cannot carry a surrogate, so a lone one only arrives as an escape (\uD800–\uDFFF).
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function refuseForbiddenContent(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new AppError("BAD_REQUEST", `The key "${key}" is not allowed in a JSON body.`);
  if (key.includes(NUL) || (typeof value === "string" && value.includes(NUL)))
    throw new AppError("BAD_REQUEST", "Text in a JSON body may not contain NUL (U+0000).");
  return value;
}

// Only for bodies holding a surrogate escape, so every other body skips the per-string check.
function refuseForbiddenOrIllFormed(key: string, value: unknown): unknown {
  if (!key.isWellFormed() || (typeof value === "string" && !value.isWellFormed())) {
    throw new AppError(
      "BAD_REQUEST",
      "Text in a JSON body may not contain an unpaired UTF-16 surrogate (\\uD800–\\uDFFF).",
    );
  }
  return refuseForbiddenContent(key, value);
}

export function parseJsonBody(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new AppError("INVALID_JSON", "The request body is not valid UTF-8.");
  }
  if (text.trim() === "") throw new AppError("INVALID_JSON", "The request body is empty.");
  try {
    return JSON.parse(text, SURROGATE_ESCAPE.test(text) ? refuseForbiddenOrIllFormed : refuseForbiddenContent);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("INVALID_JSON");
  }
}

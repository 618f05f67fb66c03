/**
 * JSON bodies: strict UTF-8, and keys that could reach an object's prototype (`__proto__`,
 * `constructor`, `prototype`) are refused outright rather than trusted to every later merge. NUL
 * (U+0000) is refused in any string or key: PostgreSQL cannot store it in text.
 */
import { AppError } from "../errors/app-error.ts";

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

const NUL = "\u0000";

function refuseForbiddenContent(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new AppError("BAD_REQUEST", `The key "${key}" is not allowed in a JSON body.`);
  if (key.includes(NUL) || (typeof value === "string" && value.includes(NUL))) throw new AppError("BAD_REQUEST", "Text in a JSON body may not contain NUL (U+0000).");
  return value;
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
    return JSON.parse(text, refuseForbiddenContent);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("INVALID_JSON");
  }
}

/**
 * JSON bodies: strict UTF-8, and keys that could reach an object's prototype (`__proto__`,
 * `constructor`, `prototype`) are refused outright rather than trusted to every later merge.
 */
import { AppError } from "../errors/app-error.ts";

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

function refuseForbiddenKeys(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new AppError("BAD_REQUEST", `The key "${key}" is not allowed in a JSON body.`);
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
    return JSON.parse(text, refuseForbiddenKeys);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("INVALID_JSON");
  }
}

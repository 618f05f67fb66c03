/** Maps whatever a handler or the framework threw onto an AppError; anything unexpected is INTERNAL. */
import { BrokenCircuitError } from "cockatiel";
import { isDatabaseUnavailable } from "../db/database-unavailable.ts";
import { AppError } from "../errors/app-error.ts";

interface ValidationIssue {
  path: string;
  message: string;
}

interface FrameworkValidationError {
  all: ReadonlyArray<{ path?: string; message?: string; summary?: string }>;
}

function validationIssues(error: unknown): ValidationIssue[] {
  const all = (error as Partial<FrameworkValidationError>).all ?? [];
  // Drop the "(was …)" echo of the received value: it may be a password.
  return all.map((issue) => ({
    path: String(issue.path ?? "")
      .replace(/^\//, "")
      .replaceAll("/", "."),
    message: String(issue.message ?? issue.summary ?? "is invalid").replace(/ \(was .*\)$/s, ""),
  }));
}

// drizzle wraps whatever the driver threw (a breaker's refusal included) in a DrizzleQueryError.
function isOpenBreaker(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++, current = current.cause) {
    if (current instanceof BrokenCircuitError) return true;
  }
  return false;
}

const unavailable = () => new AppError("DEPENDENCY_UNAVAILABLE", undefined, undefined, { "retry-after": "1" });

export function toAppError(code: string | number, error: unknown): { appError: AppError; unexpected: boolean } {
  if (error instanceof AppError) return { appError: error, unexpected: false };
  // A dependency behind an open breaker: say so quickly rather than a 500.
  if (isOpenBreaker(error)) return { appError: unavailable(), unexpected: false };
  // The database did not answer, whether drizzle wrapped the failure or a transaction threw it bare:
  // a 503 the client may retry, and still logged.
  if (isDatabaseUnavailable(error)) return { appError: unavailable(), unexpected: true };
  switch (code) {
    case "NOT_FOUND":
      return { appError: new AppError("NOT_FOUND"), unexpected: false };
    case "PARSE":
      // Elysia wraps whatever a parse hook throws (our 413 and strict-JSON errors) in a ParseError.
      return {
        appError:
          (error as { cause?: unknown }).cause instanceof AppError
            ? (error as { cause: AppError }).cause
            : new AppError("INVALID_JSON"),
        unexpected: false,
      };
    case "VALIDATION":
      return {
        appError: new AppError("VALIDATION_FAILED", undefined, { fields: validationIssues(error) }),
        unexpected: false,
      };
    case "INVALID_COOKIE_SIGNATURE":
    case "INVALID_FILE_TYPE":
      return { appError: new AppError("BAD_REQUEST"), unexpected: false };
    default:
      return { appError: new AppError("INTERNAL"), unexpected: true };
  }
}

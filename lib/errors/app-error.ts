/** The one error type the lib throws for an expected failure; the pipeline turns it into the envelope. */
import { ERROR_CODES, type ErrorCode } from "../core/error-codes.ts";

export type ErrorDetails = Record<string, unknown>;

const APP_ERROR = Symbol.for("rampart.AppError");

export class AppError extends Error {
  // `bun --hot` evaluates this module again on reload; an AppError from either copy is still one.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && APP_ERROR in value;
  }

  readonly [APP_ERROR] = true;
  override name = "AppError";
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code].message,
    readonly details?: ErrorDetails,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }
}

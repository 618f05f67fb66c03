/** The one error type the lib throws for an expected failure; the pipeline turns it into the envelope. */
import { ERROR_CODES, type ErrorCode } from "./codes.ts";

export type ErrorDetails = Record<string, unknown>;

export class AppError extends Error {
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

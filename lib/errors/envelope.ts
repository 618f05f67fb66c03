/** Builds the JSON error envelope every failed response carries. */
import { JSON_CONTENT_TYPE } from "../core/json-content-type.ts";
import type { AppError } from "./app-error.ts";

export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown>; requestId: string; timestamp: string };
}

export function toErrorEnvelope(error: AppError, requestId: string): ErrorEnvelope {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      requestId,
      timestamp: new Date().toISOString(),
    },
  };
}

export function errorResponse(error: AppError, requestId: string, headers: Headers): Response {
  headers.set("content-type", JSON_CONTENT_TYPE);
  if (error.headers !== undefined) for (const [name, value] of Object.entries(error.headers)) headers.set(name, value);
  return new Response(JSON.stringify(toErrorEnvelope(error, requestId)), { status: error.status, headers });
}

/**
 * Which errors say the database is unavailable, as opposed to a query it refused or an error of our own
 * thrown inside a transaction. Only the first kind may open the circuit breaker: five unique-key
 * violations, or five refused refresh tokens rolled back, are answers from a healthy server.
 */
import { AppError } from "../errors/app-error.ts";

// SQLSTATE classes that mean the server cannot serve: connection exceptions, insufficient resources,
// operator intervention (shutdown, crash recovery, cannot connect now), system errors.
const UNAVAILABLE_CLASSES = new Set(["08", "53", "57", "58"]);
const QUERY_CANCELED = "57014";
// Errors raised without an answer from the server: Node's socket errors (ECONNREFUSED, EPIPE, …) and
// postgres.js's own (CONNECT_TIMEOUT, CONNECTION_CLOSED, CONNECTION_DESTROYED, CONNECTION_ENDED).
const TRANSPORT_CODE = /^(E[A-Z]+|CONNECT_TIMEOUT|CONNECTION_[A-Z_]+)$/;
// The Neon driver's WebSocket and pool failures carry no code, only words like these.
const TRANSPORT_MESSAGE = /connect|connection|socket|terminated|timed? ?out|websocket|network/i;

interface ErrorFields {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
  cause?: unknown;
}

function isUnavailable(error: ErrorFields): boolean {
  const code = typeof error.code === "string" ? error.code : undefined;
  // The server answered (its errors carry a severity): only some classes mean it cannot serve.
  if (typeof error.severity === "string" && code !== undefined) return code !== QUERY_CANCELED && UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  if (code !== undefined) return TRANSPORT_CODE.test(code);
  return typeof error.message === "string" && TRANSPORT_MESSAGE.test(error.message);
}

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // Our own errors (an AppError thrown inside a transaction) say nothing about the server.
  if (error instanceof AppError) return false;
  // A failed drizzle query: its message is the SQL text, which may hold any word; judge what it wraps.
  if ("query" in error && "params" in error) return isDatabaseUnavailable(error.cause);
  return isUnavailable(error) || (error.cause instanceof Error && isUnavailable(error.cause));
}

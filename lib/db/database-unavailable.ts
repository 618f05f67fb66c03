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
// Errors raised without an answer from the server: the runtime's socket errors (ECONNREFUSED, EPIPE,
// EAI_AGAIN, …) and postgres.js's own (CONNECT_TIMEOUT, CONNECTION_CLOSED, CONNECTION_DESTROYED, CONNECTION_ENDED).
const TRANSPORT_CODE = /^(E[A-Z]+|EAI_[A-Z]+|CONNECT_TIMEOUT|CONNECTION_[A-Z_]+)$/;
// The pg client inside the Neon driver raises its connection failures with no code, only these fixed texts
// ("Connection terminated unexpectedly", "… due to connection timeout", "Client has encountered a connection error
// and is not queryable", "timeout exceeded when trying to connect"); anchored, so no other text can pass for one.
const NEON_CONNECTION_FAILURE = new RegExp(
  String.raw`^(Connection terminated\b|Client has encountered a connection error\b|` +
    "timeout exceeded when trying to connect$|Query read timeout$)",
);
// Causes followed at most: a drizzle error around a pool timeout around a socket error.
const MAX_CAUSE_DEPTH = 4;

interface ErrorFields {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
}

function isUnavailable(error: ErrorFields): boolean {
  const code = typeof error.code === "string" ? error.code : undefined;
  // The server answered (its errors carry a severity): only some classes mean it cannot serve.
  if (typeof error.severity === "string" && code !== undefined)
    return code !== QUERY_CANCELED && UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  if (code !== undefined) return TRANSPORT_CODE.test(code);
  return typeof error.message === "string" && NEON_CONNECTION_FAILURE.test(error.message);
}

function isUnavailableAt(error: unknown, depth: number): boolean {
  // The Neon driver passes on its WebSocket's failure as it came: an ErrorEvent, not an Error.
  if (typeof Event === "function" && error instanceof Event) return true;
  if (!(error instanceof Error) || depth > MAX_CAUSE_DEPTH) return false;
  // Our own errors (an AppError thrown inside a transaction) say nothing about the server.
  if (error instanceof AppError) return false;
  // A failed drizzle query: its message is the SQL text, which may hold any word; judge what it wraps.
  if ("query" in error && "params" in error) return isUnavailableAt(error.cause, depth + 1);
  return isUnavailable(error) || isUnavailableAt(error.cause, depth + 1);
}

/**
 * Whether `error` (thrown by any driver, inside a transaction or not, wrapped by drizzle or not) means the database
 * cannot be reached.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return isUnavailableAt(error, 0);
}

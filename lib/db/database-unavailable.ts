/**
 * Which database errors say the database is unavailable, as opposed to a query it refused. Only the
 * first kind may open the circuit breaker: five unique-key violations in a row are five answers from a
 * healthy server, and must not turn every request into a 503.
 */

// SQLSTATE classes and codes that mean the server cannot serve: connection exceptions, insufficient
// resources, operator intervention (shutdown, crash recovery, cannot connect now), system errors.
const UNAVAILABLE_CLASSES = new Set(["08", "53", "57", "58"]);
const QUERY_CANCELED = "57014";

const sqlStateOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

export function isDatabaseUnavailable(error: unknown): boolean {
  const state = sqlStateOf(error) ?? sqlStateOf((error as { cause?: unknown } | null)?.cause);
  // No SQLSTATE: the server never answered (refused connection, reset socket, timeout, TLS failure).
  if (state === undefined) return true;
  // A statement cancelled by its own timeout or our deadline says nothing about the server's health.
  if (state === QUERY_CANCELED) return false;
  return UNAVAILABLE_CLASSES.has(state.slice(0, 2));
}

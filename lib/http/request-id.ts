/** Correlation IDs: a caller's well-formed X-Request-ID is propagated, anything else is replaced. */
export const REQUEST_ID_HEADER = "x-request-id";

// Long enough to be unique, short and plain enough that it cannot carry log injection or a payload.
const WELL_FORMED_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

export function requestIdFor(request: Request): string {
  const sent = request.headers.get(REQUEST_ID_HEADER);
  return sent !== null && WELL_FORMED_REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
}

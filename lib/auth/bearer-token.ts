/** The one reader of `Authorization: Bearer …`: every credential check sees the same token for the same header. */
const BEARER_PREFIX = "Bearer ";

/**
 * The credential after `Bearer `, trimmed; "" when the header is missing or uses another scheme.
 * @example bearerTokenOf(new Request("http://x", { headers: { authorization: "Bearer  abc" } })) // "abc"
 */
export function bearerTokenOf(request: Request): string {
  const authorization = request.headers.get("authorization");
  return authorization?.startsWith(BEARER_PREFIX) ? authorization.slice(BEARER_PREFIX.length).trim() : "";
}

/** What an API key may be granted; route policies name these, so the list sits below both auth and http. */
export const API_KEY_SCOPES = [
  "orgs:read",
  "orgs:write",
  "keys:read",
  "keys:verify",
  "audit:read",
  "events:read",
  "uploads:read",
  "uploads:write",
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** Who is calling: a signed-in user (access token) or an organization's API key. */
export type Caller =
  | { kind: "user"; userId: string; sessionId: string }
  | { kind: "api_key"; keyId: string; orgId: string; scopes: readonly string[]; rateLimitPerMinute: number | undefined };

export type ApiKeyCaller = Extract<Caller, { kind: "api_key" }>;

/** Admits a database lookup of a key not loaded yet, or refuses it (too many already running for this caller). */
export interface LookupGate {
  enter(): boolean;
  leave(): void;
}

export interface ApiKeyVerifier {
  /**
   * The key's caller when `presented` is a live key; undefined for unknown, malformed, revoked or expired
   * keys. A warm key is answered without a promise. A lookup the gate refuses throws 429 RATE_LIMITED.
   */
  verify(presented: string, gate?: LookupGate): ApiKeyCaller | undefined | Promise<ApiKeyCaller | undefined>;
  /** Whether `presented` looks like one of our keys (by prefix), as opposed to a JWT. */
  isApiKey(presented: string): boolean;
}

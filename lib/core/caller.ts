import type { ResolvedRateLimitRule } from "./route-policy.ts";

export type RefillInterval = "daily" | "monthly";

/**
 * A key's usage credits as its database row had them when loaded: the seed of the live count in the store
 * (lib/auth/usage-credits.ts). `owner` is the key, or the identity whose credits its keys share.
 */
export interface CreditTerms {
  owner: { kind: "key" | "identity"; id: string };
  remaining: number;
  period: number;
  version: number;
  refill: { amount: number; interval: RefillInterval } | undefined;
}

/** A customer's identity: every key with its `externalId` counts against these limits together. */
export interface KeyIdentity {
  id: string;
  /** Resolved rules counting per identity across routes. */
  rateLimits: readonly ResolvedRateLimitRule[];
}

/** Who is calling: a signed-in user (access token) or an organization's API key. */
export type Caller =
  | {
      kind: "user";
      userId: string;
      sessionId: string;
      /** When the session last proved who its user is, epoch seconds (the token's `auth_time`); step-up reads it. */
      authTime?: number;
    }
  | {
      kind: "api_key";
      keyId: string;
      orgId: string;
      scopes: readonly string[];
      rateLimitPerMinute: number | undefined;
      /** Undefined for a key without a usage limit. */
      credits: CreditTerms | undefined;
      /** The owner's JSON for the key, returned by the verify endpoint. */
      meta: Readonly<Record<string, unknown>> | undefined;
      /** The customer the key serves, and its identity when the organization made one for it. */
      externalId: string | undefined;
      identity: KeyIdentity | undefined;
    };

export type ApiKeyCaller = Extract<Caller, { kind: "api_key" }>;
export type UserCaller = Extract<Caller, { kind: "user" }>;

/** Lets database lookups of keys not loaded yet run a few at a time per client; the others wait their turn. */
export interface LookupGate {
  /**
   * Resolves when `client` may run a lookup; throws when too many already wait, or its budget ran out while it waited.
   */
  acquire(client: string): Promise<void>;
  release(client: string): void;
}

export interface ApiKeyVerifier {
  /**
   * The key's caller when `presented` is a live key; undefined for unknown, malformed, revoked or expired
   * keys. A warm key is answered without a promise; a lookup goes through `gate`, counted against `client`.
   */
  verify(
    presented: string,
    gate?: LookupGate,
    client?: string,
  ): ApiKeyCaller | undefined | Promise<ApiKeyCaller | undefined>;
  /** Whether `presented` looks like one of our keys (by prefix), as opposed to a JWT. */
  isApiKey(presented: string): boolean;
}

/**
 * Verification as a service: another backend of an organization asks whether a key it was handed is good, with
 * the same cached, no-database hot path as a route. Only that organization's keys are ever described: any other
 * key, whatever its state, is NOT_FOUND.
 */
import type { ApiKeyCaller } from "../core/caller.ts";
import type { ApiKeyService, KeyRefusal } from "./api-key-verifier.ts";
import { recordVerification, type VerificationOutcome } from "./verification-analytics.ts";

export type VerifyCode = VerificationOutcome;

export interface VerifyRequest {
  key: string;
  /** Scopes the key must hold. */
  scopes?: readonly string[];
  /**
   * Credits to spend from a key with a usage limit; 0 only reads them.
   * @default 1
   */
  cost?: number;
}

export interface VerifyAnswer {
  valid: boolean;
  code: VerifyCode;
  keyId: string | null;
  externalId: string | null;
  scopes: string[] | null;
  meta: Record<string, unknown> | null;
  /** Credits left; null for a key without a usage limit (or when the answer is about something else). */
  remaining: number | null;
  /** The binding limit of the key's own and its identity's limits; null when it has none. */
  ratelimit: { limit: number; remaining: number; reset: number } | null;
}

/** The binding one of a key's own and its identity's limits, counted once; undefined when it has none. */
export type KeyLimitCheck = (
  caller: ApiKeyCaller,
) => Promise<{ allowed: boolean; limit: number; remaining: number; reset: number } | undefined>;

export interface KeyVerification {
  apiKeys: ApiKeyService;
  checkLimits: KeyLimitCheck;
  now(): number;
}

const NONE = { keyId: null, externalId: null, scopes: null, meta: null, remaining: null, ratelimit: null };

export async function verifyKeyFor(
  verification: KeyVerification,
  orgId: string,
  request: VerifyRequest,
): Promise<VerifyAnswer> {
  const { answer, identityId } = await decide(verification, orgId, request);
  recordVerification({ orgId, keyId: answer.keyId ?? undefined, identityId }, answer.code);
  return answer;
}

async function decide(
  { apiKeys, checkLimits, now }: KeyVerification,
  orgId: string,
  request: VerifyRequest,
): Promise<{ answer: VerifyAnswer; identityId?: string }> {
  const inspection = await apiKeys.inspect(request.key);
  if (inspection.code !== "VALID") {
    if (inspection.orgId !== orgId) return { answer: refused("NOT_FOUND") };
    return { answer: { ...refused(inspection.code), keyId: inspection.keyId ?? null } };
  }
  const { caller } = inspection;
  if (caller.orgId !== orgId) return { answer: refused("NOT_FOUND") };
  const described = {
    keyId: caller.keyId,
    externalId: caller.externalId ?? null,
    scopes: [...caller.scopes],
    meta: caller.meta === undefined ? null : { ...caller.meta },
  };
  const identityId = caller.identity?.id;
  const verdict = (code: VerifyCode, extra: Partial<VerifyAnswer> = {}) => ({
    answer: { ...NONE, ...described, ...extra, valid: code === "VALID", code },
    identityId,
  });
  if (!(request.scopes ?? []).every((scope) => caller.scopes.includes(scope))) return verdict("INSUFFICIENT_SCOPES");

  const limits = await checkLimits(caller);
  const ratelimit =
    limits === undefined ? null : { limit: limits.limit, remaining: limits.remaining, reset: limits.reset };
  if (limits !== undefined && !limits.allowed) return verdict("RATE_LIMITED", { ratelimit });
  if (caller.credits === undefined) return verdict("VALID", { ratelimit });
  const spent = await apiKeys.credits.spend(caller.credits, request.cost ?? 1, now());
  const remaining = spent.remaining ?? null;
  return verdict(spent.spent ? "VALID" : "USAGE_EXCEEDED", { ratelimit, remaining });
}

const refused = (code: KeyRefusal | "NOT_FOUND"): VerifyAnswer => ({ ...NONE, valid: false, code });

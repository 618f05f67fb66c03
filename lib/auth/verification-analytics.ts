/**
 * Every key verification's outcome, counted per key, per identity and per organization in the process's metrics
 * registry (lib/metrics): in memory on the request path, added to the store's minute hashes with the rest of the
 * metrics and rolled up into metrics_series_minute, so no verification writes anything itself.
 */
import type { ApiKeyCaller } from "../core/caller.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import type { SeriesRecorder } from "../metrics/recorders.ts";

export const VERIFICATION_OUTCOMES = [
  "VALID",
  "NOT_FOUND",
  "DISABLED",
  "EXPIRED",
  "RATE_LIMITED",
  "USAGE_EXCEEDED",
  "INSUFFICIENT_SCOPES",
] as const;
export type VerificationOutcome = (typeof VERIFICATION_OUTCOMES)[number];

/** The series names, one per subject counted. */
export const VERIFICATION_SERIES = {
  key: "key_verification",
  identity: "key_verification_identity",
  org: "key_verification_org",
} as const;
export type VerificationSubject = keyof typeof VERIFICATION_SERIES;

/** Who a verification was about: the key (known only when it is one of the organization's), its identity, its org. */
export interface VerifiedSubject {
  orgId: string;
  keyId?: string;
  identityId?: string;
}

/** The labels of a subject's series, without the outcome (formatLabels sorts them: `key`/`identity`, `org`). */
export function subjectLabels(subject: VerificationSubject, id: string, orgId: string): Record<string, string> {
  return subject === "org" ? { org: orgId } : { [subject]: id, org: orgId };
}

function recordersOf({ orgId, keyId, identityId }: VerifiedSubject, outcome: VerificationOutcome): SeriesRecorder[] {
  const metrics = metricsRegistry();
  const recorders = [metrics.series(VERIFICATION_SERIES.org, { org: orgId, outcome })];
  if (keyId !== undefined) recorders.push(metrics.series(VERIFICATION_SERIES.key, { key: keyId, org: orgId, outcome }));
  if (identityId !== undefined)
    recorders.push(metrics.series(VERIFICATION_SERIES.identity, { identity: identityId, org: orgId, outcome }));
  return recorders;
}

export function recordVerification(subject: VerifiedSubject, outcome: VerificationOutcome): void {
  for (const recorder of recordersOf(subject, outcome)) recorder.add();
}

// A cached key's caller is one object for its whole cache life: its recorders are looked up once per outcome.
const recordersOfCaller = new WeakMap<ApiKeyCaller, Partial<Record<VerificationOutcome, SeriesRecorder[]>>>();

/** Counts a route's verification of `caller`: a few additions in memory on the warm path. */
export function recordCallerVerification(caller: ApiKeyCaller, outcome: VerificationOutcome): void {
  let byOutcome = recordersOfCaller.get(caller);
  if (byOutcome === undefined) recordersOfCaller.set(caller, (byOutcome = {}));
  const subject = { orgId: caller.orgId, keyId: caller.keyId, identityId: caller.identity?.id };
  for (const recorder of (byOutcome[outcome] ??= recordersOf(subject, outcome))) recorder.add();
}

/**
 * Rotating a runtime's signing keys, for the scheduled job and the admin endpoint alike: one retire
 * window, a `signing_key.rotated` audit event in the rotation's transaction, and the local ring reloaded afterwards.
 */
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import { JWKS_TAG } from "../cache/cache-tags.ts";
import { purgeAfterCommit } from "../cache/purge-after-commit.ts";
import type { AuthConfig } from "../config/config.ts";
import { CLOCK_SKEW_SECONDS } from "./access-tokens.ts";
import type { IdentityRuntime } from "./identity.ts";
import { DEFAULT_KEY_RING_OPTIONS } from "./key-ring-provider.ts";
import { type RotationOutcome, rotateSigningKeys } from "./signing-keys.ts";

/**
 * How long a retiring key keeps verifying: a token's lifetime plus the clock skew we accept, plus the
 * time another instance may keep signing with the key from a ring it loaded just before the rotation.
 */
export function retireAfterMs(auth: AuthConfig): number {
  return (auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000 + DEFAULT_KEY_RING_OPTIONS.ttlMs;
}

export interface RotationTrigger {
  actor: AuditEvent["actor"];
  /** Rotate only when the current key has signed this long (the schedule); a forced rotation omits it. */
  onlyIfCurrentOlderThanMs?: number;
  request?: Request;
}

export async function rotateRuntimeSigningKeys(
  runtime: IdentityRuntime,
  trigger: RotationTrigger,
): Promise<RotationOutcome> {
  const identity = runtime.services.identity;
  const db = runtime.db.primary;
  const outcome = await rotateSigningKeys(db, identity.encryptor, {
    retireAfterMs: retireAfterMs(runtime.config.auth),
    onlyIfCurrentOlderThanMs: trigger.onlyIfCurrentOlderThanMs,
    onRotated: (tx, rotated) =>
      recordAuditEvent(
        tx,
        {
          action: "signing_key.rotated",
          actor: trigger.actor,
          target: { type: "signing_key", id: rotated.current },
          metadata: { next: rotated.next, retired: rotated.retired },
        },
        trigger.request,
      ),
  });
  if (outcome.rotated || outcome.retired.length > 0) {
    identity.keyRing.invalidate();
    await purgeAfterCommit(runtime, [JWKS_TAG]);
  }
  return outcome;
}

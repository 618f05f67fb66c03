/**
 * Lifting the rate limits of the routes under load, through `PATCH /admin/settings` (`rateLimitOverrides`),
 * and putting the operator's overrides back afterwards. Every load test from one address would otherwise get
 * 429 within a second, and each 429 counts toward an automatic block of that address.
 */

/** Prefixes whose limits are lifted: the organization routes, and inbound webhooks (the default 300/min per IP). */
const LIFTED_PREFIXES = ["/v1/orgs", "/v1/webhooks"] as const;

type Overrides = Record<string, unknown[]>;

async function settingsCall(base: string, token: string, init: RequestInit = {}): Promise<Overrides> {
  const response = await fetch(new URL("/admin/settings", base), {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  });
  if (!response.ok) throw new Error(`/admin/settings answered ${response.status}: ${await response.text()}`);
  const { settings } = (await response.json()) as { settings: { rateLimitOverrides: Overrides } };
  return settings.rateLimitOverrides;
}

function patchOverrides(base: string, token: string, overrides: Overrides): Promise<Overrides> {
  return settingsCall(base, token, { method: "PATCH", body: JSON.stringify({ rateLimitOverrides: overrides }) });
}

export interface LiftedLimits {
  /** What the report records: which prefixes were lifted. */
  readonly prefixes: readonly string[];
  restore(): Promise<void>;
}

/** Lifts the limits under each prefix (an empty rule list) and answers how to restore the previous overrides. */
export async function liftRateLimits(base: string, adminToken: string): Promise<LiftedLimits> {
  const previous = await settingsCall(base, adminToken);
  const lifted = Object.fromEntries(LIFTED_PREFIXES.map((prefix) => [prefix, []]));
  await patchOverrides(base, adminToken, { ...previous, ...lifted });
  return {
    prefixes: LIFTED_PREFIXES,
    restore: async () => {
      await patchOverrides(base, adminToken, previous);
    },
  };
}

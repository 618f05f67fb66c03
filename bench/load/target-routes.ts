/**
 * The routes a load test sends, over what it sets up for itself through the public API: a user, an
 * organization, an API key and an inbound webhook source. Nothing is read from the server's database.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { LoadRoute } from "./load-generator.ts";

export interface LoadFixture {
  orgId: string;
  apiKey: string;
  sourceId: string;
  webhookSecret: string;
}

async function call<T>(base: string, path: string, init: RequestInit & { token?: string }): Promise<T> {
  const headers = {
    "content-type": "application/json",
    ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
  };
  const response = await fetch(new URL(path, base), { ...init, headers: { ...headers, ...init.headers } });
  const text = await response.text();
  if (!response.ok) throw new Error(`set-up: ${init.method ?? "GET"} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** A throw-away user's access token; a fresh address per attempt, as a timed-out sign-up may have made one. */
async function signUp(base: string, attempts = 3): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const email = `loadtest-${crypto.randomUUID()}@example.com`;
    const body = JSON.stringify({ email, password: randomBytes(18).toString("base64") });
    try {
      return (await call<{ accessToken: string }>(base, "/v1/auth/signup", { method: "POST", body })).accessToken;
    } catch (error) {
      // Password hashing on a saturated machine can pass the auth deadline (504): try again.
      if (attempt >= attempts || !/answered 50[34]/.test(String(error))) throw error;
    }
  }
}

/** Signs up a throw-away user and makes the organization, key and webhook source the routes use. */
export async function setUpFixture(base: string): Promise<LoadFixture> {
  const token = await signUp(base);
  const org = await call<{ id: string }>(base, "/v1/orgs", {
    method: "POST",
    token,
    body: JSON.stringify({ name: "load test" }),
  });
  const key = await call<{ key: string }>(base, `/v1/orgs/${org.id}/keys`, {
    method: "POST",
    token,
    body: JSON.stringify({ name: "load test", scopes: ["orgs:read", "orgs:write", "audit:read"] }),
  });
  const webhookSecret = `whsec_${randomBytes(32).toString("base64")}`;
  const source = await call<{ id: string }>(base, `/v1/orgs/${org.id}/webhook-sources`, {
    method: "POST",
    token,
    body: JSON.stringify({ kind: "standard", name: "load test", secret: webhookSecret }),
  });
  return { orgId: org.id, apiKey: key.key, sourceId: source.id, webhookSecret };
}

/** Standard Webhooks headers for one delivery (HMAC-SHA256 over `id.timestamp.body`). */
function signDelivery(secret: Buffer, id: string, body: string): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", secret).update(`${id}.${ts}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${signature}` };
}

/** Route names, in report order; `health` is the peer every other route is compared with. */
export const ROUTE_NAMES = ["health", "cachedGet", "keyGet", "write", "webhook"] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];

/** Routes that count against rate limits: all but the health probe (a public route gets 300/min per IP). */
export const RATE_LIMITED_ROUTES: readonly RouteName[] = ["cachedGet", "keyGet", "write", "webhook"];

export const ROUTE_LABELS: Record<RouteName, string> = {
  health: "GET /health/live",
  cachedGet: "GET /v1/orgs/:orgId (API key, response cache)",
  keyGet: "GET /v1/orgs/:orgId/audit?until=… (API key, a new query each time: cache miss)",
  write: "PATCH /v1/orgs/:orgId (API key, write + cache purge)",
  webhook: "POST /v1/webhooks/:sourceId (new signed delivery)",
};

export function loadRoutes(base: string, fixture: LoadFixture): Record<RouteName, LoadRoute> {
  const url = (path: string) => new URL(path, base).href;
  const keyHeaders = { authorization: `Bearer ${fixture.apiKey}` };
  const secret = Buffer.from(fixture.webhookSecret.slice("whsec_".length), "base64");
  let renames = 0;
  let queries = 0;
  const fixed = (name: RouteName, path: string, init: RequestInit = {}): LoadRoute => {
    const target = url(path);
    return { name, next: () => ({ url: target, init }) };
  };
  const writeUrl = url(`/v1/orgs/${fixture.orgId}`);
  const webhookUrl = url(`/v1/webhooks/${fixture.sourceId}`);
  const auditUrl = url(`/v1/orgs/${fixture.orgId}/audit?limit=20&until=`);
  return {
    health: fixed("health", "/health/live"),
    cachedGet: fixed("cachedGet", `/v1/orgs/${fixture.orgId}`, { headers: keyHeaders }),
    keyGet: {
      name: "keyGet",
      // A distinct `until` (a day ahead, so every event matches) per request: a cache miss and a query each time.
      next: () => ({
        url: `${auditUrl}${new Date(Date.now() + 86_400_000 + queries++).toISOString()}`,
        init: { headers: keyHeaders },
      }),
    },
    write: {
      name: "write",
      next: () => ({
        url: writeUrl,
        init: {
          method: "PATCH",
          headers: { ...keyHeaders, "content-type": "application/json" },
          body: JSON.stringify({ name: `load test ${renames++}` }),
        },
      }),
    },
    webhook: {
      name: "webhook",
      next: () => {
        const id = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
        const body = JSON.stringify({ type: "loadtest.ping", data: { id } });
        return {
          url: webhookUrl,
          init: {
            method: "POST",
            headers: { "content-type": "application/json", ...signDelivery(secret, id, body) },
            body,
          },
        };
      },
    },
  };
}

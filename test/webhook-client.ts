/**
 * A harness for the inbound webhook routes, with senders that sign as Standard Webhooks, Svix, Stripe and
 * GitHub do, using node:crypto so the signer shares no code with the verifier.
 */
import { createHmac, randomBytes } from "node:crypto";
import orgs from "../functions/orgs.ts";
import webhookSources from "../functions/webhook-sources.ts";
import webhooks from "../functions/webhooks.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import type { WebhookKind } from "../lib/webhooks/webhook-secret.ts";
import { type DatabaseBackend, openTestRuntime, type TestRuntime } from "./backends.ts";
import { ADMIN_TOKEN, type IdentityClient, identityClient } from "./identity-client.ts";
import { createTestClock, type TestClock } from "./test-clock.ts";

export interface WebhookTestApp {
  runtime: TestRuntime;
  app: RampartApp;
  client: IdentityClient;
  clock: TestClock;
}

export async function openWebhookTestApp(database: DatabaseBackend): Promise<WebhookTestApp> {
  const clock = createTestClock();
  const runtime = await openTestRuntime({ database, env: { TRUST_PROXY: "1", ADMIN_TOKEN }, now: clock.now });
  const app = buildApp(runtime, [orgs, webhookSources, webhooks]);
  return { runtime, app, client: identityClient(runtime, app), clock };
}

/** A fresh secret in `kind`'s format. */
export function secretFor(kind: WebhookKind): string {
  if (kind === "standard" || kind === "svix") return `whsec_${randomBytes(32).toString("base64")}`;
  if (kind === "stripe") return `whsec_${randomBytes(24).toString("hex")}`;
  return randomBytes(20).toString("hex");
}

export interface Delivery {
  id: string;
  body: string;
  eventType: string;
}

/** The headers `secrets` sign `delivery` with at `nowMs`, as `kind`'s sender sends them. */
export function signedHeaders(
  kind: WebhookKind,
  secrets: readonly string[],
  delivery: Delivery,
  nowMs: number,
): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  const mac = (key: Buffer | string, content: string) => createHmac("sha256", key).update(content);
  if (kind === "standard" || kind === "svix") {
    const prefix = kind === "svix" ? "svix" : "webhook";
    const content = `${delivery.id}.${ts}.${delivery.body}`;
    const signatures = secrets.map(
      (secret) => `v1,${mac(Buffer.from(secret.slice("whsec_".length), "base64"), content).digest("base64")}`,
    );
    return {
      [`${prefix}-id`]: delivery.id,
      [`${prefix}-timestamp`]: String(ts),
      [`${prefix}-signature`]: signatures.join(" "),
    };
  }
  if (kind === "stripe") {
    const v1 = secrets.map((secret) => `v1=${mac(secret, `${ts}.${delivery.body}`).digest("hex")}`);
    return { "stripe-signature": [`t=${ts}`, ...v1].join(",") };
  }
  return {
    "x-github-delivery": delivery.id,
    "x-github-event": delivery.eventType,
    "x-hub-signature-256": `sha256=${mac(secrets[0] ?? "", delivery.body).digest("hex")}`,
  };
}

/** A delivery whose body names its type (and, as Stripe's does, its id). */
export function newDelivery(eventType: string): Delivery {
  const id = `evt_${crypto.randomUUID().replaceAll("-", "")}`;
  return { id, eventType, body: JSON.stringify({ id, type: eventType, data: { amount: 1200 } }) };
}

export function postDelivery(app: RampartApp, sourceId: string, headers: Record<string, string>, body: string) {
  return app.fetch(
    new Request(`http://localhost/v1/webhooks/${sourceId}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.9", ...headers },
      body,
    }),
  );
}

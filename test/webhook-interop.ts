/**
 * The interop matrix: deliveries signed by the senders' own npm packages (standardwebhooks, svix, stripe,
 * @octokit/webhooks-methods), which the receiver must accept, and forgeries of them it must refuse. Shared by
 * the Bun test and the Deno bundle's, so both runtimes answer the same cases.
 */
import { createHmac } from "node:crypto";
import { sign as signGithub } from "@octokit/webhooks-methods";
import { Webhook as StandardWebhook } from "standardwebhooks";
import Stripe from "stripe";
import { Webhook as SvixWebhook } from "svix";
import { WEBHOOK_KINDS, type WebhookKind } from "../lib/webhooks/webhook-secret.ts";
import type { IdentityClient } from "./identity-client.ts";
import { secretFor } from "./webhook-client.ts";

export interface InteropSource {
  readonly id: string;
  readonly secret: string;
}

export type InteropSources = Readonly<Record<WebhookKind, InteropSource>>;

export interface InteropCase {
  readonly name: string;
  readonly kind: WebhookKind;
  readonly accepted: boolean;
  /** The id the inbox keys an accepted delivery by. */
  readonly externalId: string;
  /** Signed at `nowMs`, right before it is sent: a case 301 s late must still be late when it arrives. */
  signed(secret: string, nowMs: number): Promise<{ headers: Record<string, string>; body: string }>;
}

export interface InteropResult {
  readonly name: string;
  readonly accepted: boolean;
  readonly status: number;
  readonly code: string | undefined;
}

// The stripe package's helpers need no account: the key is never sent anywhere.
const stripe = new Stripe("sk_test_interop");
const TOLERANCE_S = 301;

const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "")}`;
const bodyOf = (id: string) => JSON.stringify({ id, object: "event", type: "interop.test", data: { amount: 1200 } });
const tamper = (body: string) => body.replace("1200", "9900");
/** Whole seconds past `nowMs` by more than `seconds`, however long the trip to the receiver takes below 1 s. */
const lateBy = (nowMs: number, seconds: number) => new Date(Math.ceil(nowMs / 1000) * 1000 + seconds * 1000);
const earlyBy = (nowMs: number, seconds: number) => new Date(nowMs - seconds * 1000);
/** A valid HMAC over a timestamp no sender library would write, so only the format check can refuse it. */
const standardMacOver = (secret: string, content: string) =>
  `v1,${createHmac("sha256", Buffer.from(secret.slice("whsec_".length), "base64"))
    .update(content)
    .digest("base64")}`;

function standardCase(
  name: string,
  accepted: boolean,
  options: {
    kind?: "standard" | "svix";
    prefix?: "webhook" | "svix";
    id?: string;
    sentId?: string;
    at?: (nowMs: number) => Date;
    timestamp?: string;
    version?: string;
    body?: (body: string) => string;
    wrongSecret?: boolean;
  } = {},
): InteropCase {
  const kind = options.kind ?? "standard";
  const id = options.id ?? newId("msg");
  const sentId = options.sentId ?? id;
  const prefix = options.prefix ?? "webhook";
  return {
    name,
    kind,
    accepted,
    externalId: sentId,
    async signed(secret, nowMs) {
      const key = options.wrongSecret ? secretFor(kind) : secret;
      const body = bodyOf(newId("evt"));
      const at = options.at?.(nowMs) ?? new Date(nowMs);
      let signature: string;
      let timestamp = String(Math.floor(at.getTime() / 1000));
      if (options.timestamp !== undefined) {
        timestamp = options.timestamp;
        signature = standardMacOver(key, `${id}.${timestamp}.${body}`);
      } else if (kind === "svix") signature = new SvixWebhook(key).sign(id, at, body);
      else signature = new StandardWebhook(key).sign(id, at, body);
      if (options.version !== undefined) signature = signature.replace(/^v1,/, `${options.version},`);
      return {
        body: options.body?.(body) ?? body,
        headers: {
          [`${prefix}-id`]: sentId,
          [`${prefix}-timestamp`]: timestamp,
          [`${prefix}-signature`]: signature,
        },
      };
    },
  };
}

function stripeCase(
  name: string,
  accepted: boolean,
  options: {
    at?: (nowMs: number) => Date;
    timestamp?: string;
    scheme?: string;
    body?: (b: string) => string;
    wrongSecret?: boolean;
  } = {},
): InteropCase {
  const id = newId("evt");
  return {
    name,
    kind: "stripe",
    accepted,
    externalId: id,
    async signed(secret, nowMs) {
      const key = options.wrongSecret ? secretFor("stripe") : secret;
      const body = bodyOf(id);
      if (options.timestamp !== undefined) {
        const mac = createHmac("sha256", key).update(`${options.timestamp}.${body}`).digest("hex");
        return { body, headers: { "stripe-signature": `t=${options.timestamp},v1=${mac}` } };
      }
      const timestamp = Math.floor((options.at?.(nowMs) ?? new Date(nowMs)).getTime() / 1000);
      const header = await stripe.webhooks.generateTestHeaderStringAsync({
        payload: body,
        secret: key,
        timestamp,
        ...(options.scheme !== undefined && { scheme: options.scheme }),
      });
      return { body: options.body?.(body) ?? body, headers: { "stripe-signature": header } };
    },
  };
}

function githubCase(
  name: string,
  accepted: boolean,
  options: { id?: string; body?: (b: string) => string; wrongSecret?: boolean } = {},
): InteropCase {
  const id = options.id ?? crypto.randomUUID();
  return {
    name,
    kind: "github",
    accepted,
    externalId: id,
    async signed(secret) {
      const body = bodyOf(newId("evt"));
      const signature = await signGithub(options.wrongSecret ? secretFor("github") : secret, body);
      return {
        body: options.body?.(body) ?? body,
        headers: { "x-github-delivery": id, "x-github-event": "push", "x-hub-signature-256": signature },
      };
    },
  };
}

/** Every case, fresh ids each call. */
export function interopCases(): InteropCase[] {
  return [
    standardCase("standardwebhooks: signed delivery", true),
    standardCase("svix: svix-* headers", true, { kind: "svix", prefix: "svix" }),
    standardCase("svix: webhook-* headers", true, { kind: "svix", prefix: "webhook" }),
    stripeCase("stripe: generateTestHeaderStringAsync", true),
    githubCase("@octokit/webhooks-methods: sign", true),

    standardCase("standardwebhooks: tampered body", false, { body: tamper }),
    standardCase("svix: tampered body", false, { kind: "svix", prefix: "svix", body: tamper }),
    stripeCase("stripe: tampered body", false, { body: tamper }),
    githubCase("github: tampered body", false, { body: tamper }),
    standardCase("standardwebhooks: swapped id", false, { sentId: newId("msg") }),
    standardCase("svix: swapped id", false, { kind: "svix", prefix: "svix", sentId: newId("msg") }),
    standardCase("standardwebhooks: wrong secret", false, { wrongSecret: true }),
    standardCase("svix: wrong secret (webhook-*)", false, { kind: "svix", wrongSecret: true }),
    stripeCase("stripe: wrong secret", false, { wrongSecret: true }),
    githubCase("github: wrong secret", false, { wrongSecret: true }),
    standardCase("standardwebhooks: v2-only signature", false, { version: "v2" }),
    standardCase("svix: v2-only signature", false, { kind: "svix", prefix: "svix", version: "v2" }),
    stripeCase("stripe: v2-only signature", false, { scheme: "v2" }),
    standardCase("standardwebhooks: 301 s early", false, { at: (now) => earlyBy(now, TOLERANCE_S) }),
    standardCase("standardwebhooks: 301 s late", false, { at: (now) => lateBy(now, TOLERANCE_S) }),
    standardCase("svix: 301 s early", false, { kind: "svix", prefix: "svix", at: (now) => earlyBy(now, TOLERANCE_S) }),
    standardCase("svix: 301 s late", false, { kind: "svix", prefix: "svix", at: (now) => lateBy(now, TOLERANCE_S) }),
    stripeCase("stripe: 301 s early", false, { at: (now) => earlyBy(now, TOLERANCE_S) }),
    stripeCase("stripe: 301 s late", false, { at: (now) => lateBy(now, TOLERANCE_S) }),
    standardCase("standardwebhooks: 123abc timestamp", false, { timestamp: "123abc" }),
    stripeCase("stripe: 123abc timestamp", false, { timestamp: "123abc" }),
    // Digits that are now, then letters: refused only by the digits-only check, not by the tolerance.
    standardCase("standardwebhooks: now + abc timestamp", false, { timestamp: `${Math.floor(Date.now() / 1000)}abc` }),
    standardCase("standardwebhooks: id with a dot", false, { id: `${newId("msg")}.1` }),
    githubCase("github: id with a dot", false, { id: `${crypto.randomUUID()}.1` }),
  ];
}

/**
 * Sends every case, one after another, each signed right before it is sent, and returns what it was
 * answered. `post` sends one delivery to a source.
 */
export async function sendInteropMatrix(
  cases: readonly InteropCase[],
  sources: InteropSources,
  post: (sourceId: string, headers: Record<string, string>, body: string) => Promise<Response>,
  now: () => number,
): Promise<InteropResult[]> {
  const results: InteropResult[] = [];
  for (const entry of cases) {
    const source = sources[entry.kind];
    const { headers, body } = await entry.signed(source.secret, now());
    const response = await post(source.id, headers, body);
    const answer = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
    results.push({ name: entry.name, accepted: entry.accepted, status: response.status, code: answer.error?.code });
  }
  return results;
}

/** What every case must be answered: 200 for an accepted one, 401 UNAUTHORIZED for a refused one. */
export const expectedResults = (cases: readonly InteropCase[]): InteropResult[] =>
  cases.map((entry) => ({
    name: entry.name,
    accepted: entry.accepted,
    status: entry.accepted ? 200 : 401,
    code: entry.accepted ? undefined : "UNAUTHORIZED",
  }));

/** A fresh organization with one source of each kind, made through the routes by its owner. */
export async function createInteropSources(client: IdentityClient): Promise<InteropSources> {
  const owner = await client.createUser();
  const orgId = await client.createOrg(owner);
  const sources: Partial<Record<WebhookKind, InteropSource>> = {};
  for (const kind of WEBHOOK_KINDS) {
    const secret = secretFor(kind);
    const response = await client.call("POST", `/v1/orgs/${orgId}/webhook-sources`, {
      token: owner.token,
      body: { kind, name: `interop ${kind}`, secret },
    });
    sources[kind] = { id: (await client.expectJson<{ id: string }>(response, 201)).id, secret };
  }
  return sources as InteropSources;
}

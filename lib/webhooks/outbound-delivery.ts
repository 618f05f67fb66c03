/**
 * Delivers the outbox: each attempt row is one POST of a message to one endpoint.
 *
 * 1. Due `pending` attempts are claimed (`sending`, with a deadline) with FOR UPDATE SKIP LOCKED; a claim
 *    past its deadline goes back to `pending` on the next sweep, so a crash delays an attempt, never loses it.
 * 2. Before every attempt the URL is vetted again (SSRF); redirects are never followed; 15 s timeout; at most
 *    1 KiB of the answer is kept. 2xx is success, anything else (3xx included) a failure.
 * 3. A failure schedules the next attempt per RETRY_SCHEDULE_MS (±20 %), later if `Retry-After` on 429/503
 *    says so; 410 or five days of continuous failure disables the endpoint, with an audit row.
 */
import { and, eq, inArray, lt, lte, max, sql } from "drizzle-orm";
import type { IdentityRuntime } from "../auth/identity.ts";
import type { Db } from "../db/database.ts";
import { webhookAttempts, webhookEndpointSecrets, webhookEndpoints, webhookMessages } from "../db/schema/index.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import { createOutboundFetch } from "../resilience/outbound-fetch.ts";
import {
  DEFAULT_ENDPOINT_URL_OPTIONS,
  type EndpointUrlOptions,
  endpointUrlOptionsOf,
  endpointUrlProblem,
} from "./endpoint-url.ts";
import { endpointSigningKey, signatureHeader } from "./outbound-signature.ts";
import { endpointSecretRowIdentity, liveEndpointSecretAt, setEndpointEnabled } from "./webhook-endpoints.ts";

/** Delay before attempt n+2 after attempt n+1 failed (Svix's schedule); the first attempt is immediate. */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
export const MAX_DELIVERY_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;
export const DISABLE_AFTER_FAILING_MS = 5 * 86_400_000;
export const MAX_EXCERPT_BYTES = 1024;
const MAX_RETRY_AFTER_MS = 86_400_000;
const CLAIM_DURATION_MS = 60_000;
const BATCH_SIZE = 50;

export interface OutboundDeliveryOptions {
  /** Which URLs may receive deliveries; loopback and http: only for local development. */
  url: EndpointUrlOptions;
  /** @default 15_000 */
  timeoutMs: number;
  /** Jitter source. @default Math.random */
  random: () => number;
}

export const DEFAULT_OUTBOUND_DELIVERY_OPTIONS: OutboundDeliveryOptions = {
  url: DEFAULT_ENDPOINT_URL_OPTIONS,
  timeoutMs: 15_000,
  random: Math.random,
};

type AttemptRow = typeof webhookAttempts.$inferSelect;
type AttemptStatus = AttemptRow["status"];

interface Outcome {
  ok: boolean;
  httpStatus: number | null;
  excerpt: string;
  gone: boolean;
  retryAfterMs: number | undefined;
}

/** `Retry-After` as seconds or an HTTP date, in ms from `nowMs`; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - nowMs;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

export function nextAttemptDelayMs(failedAttempt: number, random: () => number, atLeastMs = 0): number {
  const base = RETRY_SCHEDULE_MS[Math.min(failedAttempt, RETRY_SCHEDULE_MS.length) - 1] ?? RETRY_SCHEDULE_MS[0];
  return Math.max(Math.round(base * (0.8 + 0.4 * random())), atLeastMs);
}

async function excerptOf(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_EXCERPT_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel();
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, MAX_EXCERPT_BYTES));
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 200);

export type OutboundDeliverer = ReturnType<typeof createOutboundDeliverer>;

/** A deliverer for `runtime`: its fetch (with a breaker per host) and imported keys are kept between attempts. */
export function createOutboundDeliverer(runtime: IdentityRuntime, options: Partial<OutboundDeliveryOptions> = {}) {
  const settings = { ...DEFAULT_OUTBOUND_DELIVERY_OPTIONS, url: endpointUrlOptionsOf(runtime.config), ...options };
  const send = createOutboundFetch(runtime.logger, { timeoutMs: settings.timeoutMs, retries: 0 });
  const keys = new Map<string, Promise<CryptoKey>>();
  const db = runtime.db.primary;
  const delivered = metricsRegistry().series("webhook_delivery", { outcome: "delivered" });
  const failed = metricsRegistry().series("webhook_delivery", { outcome: "failed" });

  async function signingKeys(endpointId: string, now: Date): Promise<CryptoKey[]> {
    const secrets = await db
      .select({ id: webhookEndpointSecrets.id, ciphertext: webhookEndpointSecrets.secretCiphertext })
      .from(webhookEndpointSecrets)
      .where(and(eq(webhookEndpointSecrets.endpointId, endpointId), liveEndpointSecretAt(now)));
    return Promise.all(
      secrets.map(({ id, ciphertext }) => {
        let key = keys.get(id);
        if (key === undefined) {
          key = runtime.services.identity.encryptor
            .decrypt(ciphertext, endpointSecretRowIdentity(id))
            .then(endpointSigningKey);
          keys.set(id, key);
        }
        return key;
      }),
    );
  }

  async function post(url: string, message: typeof webhookMessages.$inferSelect, keyList: CryptoKey[]) {
    const nowMs = runtime.now();
    const timestamp = Math.floor(nowMs / 1000);
    const body = JSON.stringify({ type: message.eventType, timestamp: message.createdAt, data: message.payload });
    const problem = await endpointUrlProblem(url, settings.url);
    if (problem !== undefined)
      return { ok: false, httpStatus: null, excerpt: `refused: ${problem}`, gone: false, retryAfterMs: undefined };
    try {
      const response = await send(url, {
        method: "POST",
        redirect: "manual",
        headers: {
          "content-type": "application/json",
          "webhook-id": message.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": await signatureHeader(keyList, message.id, timestamp, body),
        },
        body,
      });
      const status = response.status;
      const excerpt = await excerptOf(response);
      const throttled = status === 429 || status === 503;
      return {
        ok: status >= 200 && status < 300,
        httpStatus: status,
        excerpt,
        gone: status === 410,
        retryAfterMs: throttled ? retryAfterMs(response.headers.get("retry-after"), nowMs) : undefined,
      };
    } catch (error) {
      return { ok: false, httpStatus: null, excerpt: errorText(error), gone: false, retryAfterMs: undefined };
    }
  }

  async function record(row: AttemptRow, orgId: string, outcome: Outcome, durationMs: number): Promise<AttemptStatus> {
    (outcome.ok ? delivered : failed).observe(durationMs);
    const nowMs = runtime.now();
    const now = new Date(nowMs);
    return db.transaction(async (tx) => {
      const holdsClaim = and(
        eq(webhookAttempts.id, row.id),
        eq(webhookAttempts.status, "sending"),
        row.claimedUntil === null ? sql`false` : eq(webhookAttempts.claimedUntil, row.claimedUntil),
      );
      const written = { attemptedAt: now, claimedUntil: null, httpStatus: outcome.httpStatus, durationMs };
      const excerpt = outcome.excerpt;
      if (outcome.ok) {
        const [done] = await tx
          .update(webhookAttempts)
          .set({ ...written, status: "success", responseExcerpt: excerpt })
          .where(holdsClaim)
          .returning({ id: webhookAttempts.id });
        if (done !== undefined)
          await tx.update(webhookEndpoints).set({ failingSince: null }).where(eq(webhookEndpoints.id, row.endpointId));
        return "success";
      }
      const [endpoint] = await tx
        .update(webhookEndpoints)
        // As text with its type: postgres.js cannot send a Date bound inside raw SQL.
        .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${now.toISOString()}::timestamptz)` })
        .where(eq(webhookEndpoints.id, row.endpointId))
        .returning({ failingSince: webhookEndpoints.failingSince });
      const failingMs = endpoint?.failingSince == null ? 0 : nowMs - endpoint.failingSince.getTime();
      const disableReason = outcome.gone
        ? "the endpoint answered 410 Gone"
        : failingMs >= DISABLE_AFTER_FAILING_MS
          ? "the endpoint failed continuously for 5 days"
          : undefined;
      const retry = disableReason === undefined && row.attempt < MAX_DELIVERY_ATTEMPTS;
      const status: AttemptStatus = retry ? "failed" : "exhausted";
      const [failed] = await tx
        .update(webhookAttempts)
        .set({ ...written, status, responseExcerpt: excerpt })
        .where(holdsClaim)
        .returning({ id: webhookAttempts.id });
      if (failed === undefined) return status;
      if (disableReason !== undefined)
        await setEndpointEnabled(
          tx,
          { orgId, endpointId: row.endpointId, enabled: false, reason: disableReason, nowMs },
          { type: "system" },
        );
      if (retry)
        await tx.insert(webhookAttempts).values({
          messageId: row.messageId,
          endpointId: row.endpointId,
          attempt: row.attempt + 1,
          nextAttemptAt: new Date(nowMs + nextAttemptDelayMs(row.attempt, settings.random, outcome.retryAfterMs)),
        });
      return status;
    });
  }

  async function run(row: AttemptRow): Promise<AttemptStatus> {
    const [found] = await db
      .select({ endpoint: webhookEndpoints, message: webhookMessages })
      .from(webhookEndpoints)
      .innerJoin(webhookMessages, eq(webhookMessages.id, row.messageId))
      .where(eq(webhookEndpoints.id, row.endpointId));
    if (found === undefined || found.endpoint.disabledAt !== null) {
      await db
        .update(webhookAttempts)
        .set({ status: "cancelled", claimedUntil: null, responseExcerpt: "the endpoint is disabled" })
        .where(eq(webhookAttempts.id, row.id));
      return "cancelled";
    }
    const keyList = await signingKeys(row.endpointId, new Date(runtime.now()));
    const started = performance.now();
    const outcome = await post(found.endpoint.url, found.message, keyList);
    return record(row, found.endpoint.orgId, outcome, Math.round(performance.now() - started));
  }

  const claim = (nowMs: number) => ({ status: "sending" as const, claimedUntil: new Date(nowMs + CLAIM_DURATION_MS) });
  const due = (nowMs: number) =>
    and(eq(webhookAttempts.status, "pending"), lte(webhookAttempts.nextAttemptAt, new Date(nowMs)));
  const ofOrg = (orgId: string) =>
    inArray(
      webhookAttempts.endpointId,
      db.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(eq(webhookEndpoints.orgId, orgId)),
    );

  /** Claims due attempts (of `orgId` only, when given) a batch at a time and sends them. */
  async function sendDue(signal: AbortSignal | undefined, orgId: string | undefined) {
    const counts: Record<AttemptStatus, number> = {
      pending: 0,
      sending: 0,
      success: 0,
      failed: 0,
      exhausted: 0,
      cancelled: 0,
    };
    while (signal?.aborted !== true) {
      const dueIds = db
        .select({ id: webhookAttempts.id })
        .from(webhookAttempts)
        .where(and(due(runtime.now()), orgId === undefined ? undefined : ofOrg(orgId)))
        .orderBy(webhookAttempts.id)
        .limit(BATCH_SIZE)
        .for("update", { skipLocked: true });
      // Only a still pending row is claimed: a background send and the job never both hold one attempt.
      const claimed = await db
        .update(webhookAttempts)
        .set(claim(runtime.now()))
        .where(and(inArray(webhookAttempts.id, dueIds), eq(webhookAttempts.status, "pending")))
        .returning();
      for (const row of claimed) counts[await run(row)] += 1;
      if (claimed.length < BATCH_SIZE) break;
    }
    return counts;
  }

  return {
    /** Releases claims past their deadline, then sends every due attempt, a batch at a time. */
    async deliverDue(signal?: AbortSignal): Promise<Record<AttemptStatus, number>> {
      await db
        .update(webhookAttempts)
        .set({ status: "pending", claimedUntil: null })
        .where(and(eq(webhookAttempts.status, "sending"), lt(webhookAttempts.claimedUntil, new Date(runtime.now()))));
      return sendDue(signal, undefined);
    },
    /** Sends an organization's due attempts, such as the first ones of a change that just committed. */
    deliverDueOf: (orgId: string) => sendDue(undefined, orgId),
  };
}

export interface AttemptView {
  endpointId: string;
  attempt: number;
  status: AttemptStatus;
  nextAttemptAt: string;
  attemptedAt: string | null;
  httpStatus: number | null;
  durationMs: number | null;
  responseExcerpt: string | null;
}

/** A message's attempts, oldest first; undefined when the organization has no such message. */
export async function listAttempts(db: Db, orgId: string, messageId: string): Promise<AttemptView[] | undefined> {
  const [message] = await db
    .select({ id: webhookMessages.id })
    .from(webhookMessages)
    .where(and(eq(webhookMessages.id, messageId), eq(webhookMessages.orgId, orgId)));
  if (message === undefined) return undefined;
  const rows = await db
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.messageId, messageId))
    .orderBy(webhookAttempts.endpointId, webhookAttempts.attempt);
  return rows.map((row) => ({
    endpointId: row.endpointId,
    attempt: row.attempt,
    status: row.status,
    nextAttemptAt: row.nextAttemptAt.toISOString(),
    attemptedAt: row.attemptedAt?.toISOString() ?? null,
    httpStatus: row.httpStatus,
    durationMs: row.durationMs,
    responseExcerpt: row.responseExcerpt,
  }));
}

/**
 * Sends a message once more, now, to each enabled endpoint it was sent to (no further retries follow a failed
 * resend). Returns how many attempts were scheduled, or undefined when the organization has no such message.
 */
export async function resendMessage(db: Db, orgId: string, messageId: string, nowMs: number) {
  return db.transaction(async (tx) => {
    const [message] = await tx
      .select({ id: webhookMessages.id })
      .from(webhookMessages)
      .where(and(eq(webhookMessages.id, messageId), eq(webhookMessages.orgId, orgId)))
      .for("update");
    if (message === undefined) return undefined;
    const latest = await tx
      .select({ endpointId: webhookAttempts.endpointId, attempt: max(webhookAttempts.attempt) })
      .from(webhookAttempts)
      .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookAttempts.endpointId))
      .where(and(eq(webhookAttempts.messageId, messageId), sql`${webhookEndpoints.disabledAt} is null`))
      .groupBy(webhookAttempts.endpointId);
    if (latest.length > 0)
      await tx.insert(webhookAttempts).values(
        latest.map((row) => ({
          messageId,
          endpointId: row.endpointId,
          // Numbered past the schedule, so a failed resend is not retried.
          attempt: Math.max(MAX_DELIVERY_ATTEMPTS, row.attempt ?? 0) + 1,
          nextAttemptAt: new Date(nowMs),
        })),
      );
    return latest.length;
  });
}

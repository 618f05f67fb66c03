/**
 * Sends queued SLO alert notifications to the operator's channels, through the outbound breaker.
 * 1. Per (channel, dedup key) only the oldest undelivered notification is sent, so a resolve never overtakes the
 *    trigger it closes.
 * 2. A notification is claimed (its next attempt pushed past the send) before it is sent: an overlapping run skips it.
 * 3. A failure is logged, never thrown, and retried after 1, 2, 4 … 60 minutes; after MAX attempts it is abandoned.
 */
import { and, asc, eq, isNull } from "drizzle-orm";
import type { AlertChannelsConfig } from "../config/config.ts";
import type { Db } from "../db/database.ts";
import { sloAlertNotifications } from "../db/schema/index.ts";
import type { Logger } from "../log/logger.ts";
import { createOutboundFetch, OutboundStatusError } from "../resilience/outbound-fetch.ts";
import { endpointSigningKey, signatureHeader } from "../webhooks/outbound-signature.ts";
import { pagerdutyEventOf, slackMessageOf, webhookBodyOf } from "./alert-messages.ts";
import type { AlertChange, AlertChannel } from "./slo-alerts.ts";

export interface AlertDeliveryOptions {
  /** @default 10_000 */
  timeoutMs: number;
  /** First retry delay, doubled per attempt up to `maxRetryDelayMs`. @default 60_000 */
  retryDelayMs: number;
  /** @default 3_600_000 */
  maxRetryDelayMs: number;
  /** @default 24 */
  maxAttempts: number;
}

export const DEFAULT_ALERT_DELIVERY_OPTIONS: AlertDeliveryOptions = {
  timeoutMs: 10_000,
  retryDelayMs: 60_000,
  maxRetryDelayMs: 3_600_000,
  maxAttempts: 24,
};

const CLAIM_MS = 60_000;
const JSON_HEADERS = { "content-type": "application/json" };

export interface DeliveryCounts {
  delivered: number;
  failed: number;
  abandoned: number;
}

/** The channels whose variables are set, in the order notifications are queued. */
export function configuredChannels(config: AlertChannelsConfig): AlertChannel[] {
  return (["pagerduty", "slack", "webhook"] as const).filter((channel) => config[channel] !== undefined);
}

export function createAlertDeliverer(
  db: Db,
  config: AlertChannelsConfig,
  logger: Logger,
  options: Partial<AlertDeliveryOptions> = {},
) {
  const settings = { ...DEFAULT_ALERT_DELIVERY_OPTIONS, ...options };
  const send = createOutboundFetch(logger, { timeoutMs: settings.timeoutMs, retries: 0 });

  /** The request a notification becomes; undefined when its channel is no longer configured. */
  const requestOf = async (row: typeof sloAlertNotifications.$inferSelect) => {
    const change = row.alert as AlertChange;
    const { slack, pagerduty, webhook } = config;
    if (row.channel === "slack" && slack !== undefined)
      return { url: slack.webhookUrl, headers: JSON_HEADERS, body: JSON.stringify(slackMessageOf(change)) };
    if (row.channel === "pagerduty" && pagerduty !== undefined)
      return {
        url: pagerduty.eventsUrl,
        headers: JSON_HEADERS,
        body: JSON.stringify(pagerdutyEventOf(change, pagerduty.routingKey)),
      };
    if (row.channel === "webhook" && webhook !== undefined) {
      const body = JSON.stringify(webhookBodyOf(change));
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = await signatureHeader([await endpointSigningKey(webhook.secret)], row.id, timestamp, body);
      return {
        url: webhook.url,
        headers: {
          ...JSON_HEADERS,
          "webhook-id": row.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signature,
        },
        body,
      };
    }
    return undefined;
  };

  /** Sends what is due at `now`; never throws for a channel's failure. */
  async function deliverDue(now: Date, signal?: AbortSignal): Promise<DeliveryCounts> {
    const counts: DeliveryCounts = { delivered: 0, failed: 0, abandoned: 0 };
    const pending = await db
      .select()
      .from(sloAlertNotifications)
      .where(and(isNull(sloAlertNotifications.deliveredAt), isNull(sloAlertNotifications.abandonedAt)))
      .orderBy(asc(sloAlertNotifications.createdAt), asc(sloAlertNotifications.event));
    const seen = new Set<string>();
    for (const row of pending) {
      const lane = `${row.channel} ${row.dedupKey}`;
      if (seen.has(lane)) continue;
      seen.add(lane);
      if (row.nextAttemptAt > now || signal?.aborted) continue;
      const claimed = await db
        .update(sloAlertNotifications)
        .set({ nextAttemptAt: new Date(now.getTime() + CLAIM_MS) })
        .where(and(eq(sloAlertNotifications.id, row.id), eq(sloAlertNotifications.nextAttemptAt, row.nextAttemptAt)))
        .returning({ id: sloAlertNotifications.id });
      if (claimed.length === 0) continue;
      const error = await attempt(row, signal);
      const attempts = row.attempts + 1;
      if (error === undefined) {
        counts.delivered++;
        await db
          .update(sloAlertNotifications)
          .set({ attempts, deliveredAt: now, lastError: null })
          .where(eq(sloAlertNotifications.id, row.id));
        continue;
      }
      const abandon = attempts >= settings.maxAttempts;
      if (abandon) counts.abandoned++;
      else counts.failed++;
      logger.warn(abandon ? "SLO alert notification abandoned" : "SLO alert notification failed", {
        channel: row.channel,
        dedupKey: row.dedupKey,
        event: row.event,
        attempts,
        error,
      });
      const delay = Math.min(settings.maxRetryDelayMs, settings.retryDelayMs * 2 ** (attempts - 1));
      await db
        .update(sloAlertNotifications)
        .set({
          attempts,
          lastError: error,
          nextAttemptAt: new Date(now.getTime() + delay),
          abandonedAt: abandon ? now : null,
        })
        .where(eq(sloAlertNotifications.id, row.id));
    }
    return counts;
  }

  /** One POST; the reason it failed, or undefined on a 2xx. The URL is never in the reason: it may be the secret. */
  async function attempt(row: typeof sloAlertNotifications.$inferSelect, signal?: AbortSignal) {
    try {
      const request = await requestOf(row);
      if (request === undefined) return `the ${row.channel} channel is not configured`;
      const response = await send(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        signal,
      });
      await response.body?.cancel();
      return response.ok ? undefined : `answered ${response.status}`;
    } catch (error) {
      // A status error says what came back; others give their kind only, as their message may quote the URL.
      if (error instanceof OutboundStatusError) return error.message;
      return error instanceof Error ? error.name : "request failed";
    }
  }

  return { deliverDue };
}

/**
 * Sends queued SLO alert notifications to the operator's channels (configured or stored), through the outbound
 * breaker.
 * 1. Per (channel, dedup key) only the oldest undelivered notification is sent, so a resolve never overtakes the
 *    trigger it closes.
 * 2. A notification is claimed (its next attempt pushed past the send) before it is sent: an overlapping run skips it.
 * 3. A failure is logged, never thrown, and retried after 1, 2, 4 … 60 minutes; after MAX attempts it is abandoned.
 */
import { and, asc, eq, isNull } from "drizzle-orm";
import type { AlertChannelsConfig } from "../config/config.ts";
import type { Encryptor } from "../crypto/envelope-encryption.ts";
import type { Db } from "../db/database.ts";
import { sloAlertNotifications } from "../db/schema/index.ts";
import type { Logger } from "../log/logger.ts";
import { createOutboundFetch, OutboundStatusError } from "../resilience/outbound-fetch.ts";
import { type EndpointUrlOptions, endpointUrlProblem } from "../webhooks/endpoint-url.ts";
import { endpointSigningKey, signatureHeader } from "../webhooks/outbound-signature.ts";
import { openAlertChannel } from "./alert-channels.ts";
import { pagerdutyEventOf, slackMessageOf, webhookBodyOf } from "./alert-messages.ts";
import type { AlertChange, AlertChannel, AlertTarget } from "./slo-alerts.ts";

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
export function configuredChannels(config: AlertChannelsConfig): AlertTarget[] {
  return (["pagerduty", "slack", "webhook"] as const)
    .filter((channel) => config[channel] !== undefined)
    .map((channel) => ({ channel, channelId: null }));
}

export interface AlertDeliveryDeps {
  db: Db;
  /** The channels the environment configures. */
  config: AlertChannelsConfig;
  logger: Logger;
  /** Opens stored channels' secrets. */
  encryptor: Encryptor;
  /** The outbound endpoint rules a stored channel's URL must still pass when it is sent to. */
  urlOptions: EndpointUrlOptions;
}

type Destination =
  | { kind: "slack"; url: string }
  | { kind: "pagerduty"; url: string; routingKey: string }
  | { kind: "webhook"; url: string; secret: string };

type NotificationRow = typeof sloAlertNotifications.$inferSelect;

export function createAlertDeliverer(
  { db, config, logger, encryptor, urlOptions }: AlertDeliveryDeps,
  options: Partial<AlertDeliveryOptions> = {},
) {
  const settings = { ...DEFAULT_ALERT_DELIVERY_OPTIONS, ...options };
  const send = createOutboundFetch(logger, { timeoutMs: settings.timeoutMs, retries: 0 });

  const configuredDestination = (channel: AlertChannel): Destination | undefined => {
    const { slack, pagerduty, webhook } = config;
    if (channel === "slack" && slack !== undefined) return { kind: "slack", url: slack.webhookUrl };
    if (channel === "pagerduty" && pagerduty !== undefined)
      return { kind: "pagerduty", url: pagerduty.eventsUrl, routingKey: pagerduty.routingKey };
    if (channel === "webhook" && webhook !== undefined) return { kind: "webhook", ...webhook };
    return undefined;
  };

  /** Where a notification goes, or why it cannot go (never quoting the secret). */
  const destinationOf = async (row: NotificationRow): Promise<Destination | string> => {
    if (row.channelId === null)
      return configuredDestination(row.channel) ?? `the ${row.channel} channel is not configured`;
    const stored = await openAlertChannel(db, encryptor, row.channelId);
    if (stored === undefined || !stored.enabled) return `the stored ${row.channel} channel is disabled`;
    const destination: Destination =
      stored.kind === "slack"
        ? { kind: "slack", url: stored.secret }
        : stored.kind === "pagerduty"
          ? { kind: "pagerduty", url: stored.url ?? "", routingKey: stored.secret }
          : { kind: "webhook", url: stored.url ?? "", secret: stored.secret };
    // Checked again at each send, as outbound endpoints are: the host may resolve elsewhere since it was stored.
    const problem = await endpointUrlProblem(destination.url, urlOptions);
    return problem === undefined ? destination : `the stored channel's URL is refused: ${problem}`;
  };

  const requestOf = async (destination: Destination, row: NotificationRow) => {
    const change = row.alert as AlertChange;
    if (destination.kind === "slack") return { headers: JSON_HEADERS, body: JSON.stringify(slackMessageOf(change)) };
    if (destination.kind === "pagerduty")
      return { headers: JSON_HEADERS, body: JSON.stringify(pagerdutyEventOf(change, destination.routingKey)) };
    const body = JSON.stringify(webhookBodyOf(change));
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = await signatureHeader([await endpointSigningKey(destination.secret)], row.id, timestamp, body);
    return {
      headers: {
        ...JSON_HEADERS,
        "webhook-id": row.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signature,
      },
      body,
    };
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
      const lane = `${row.channelId ?? row.channel} ${row.dedupKey}`;
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
        channelId: row.channelId,
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
  async function attempt(row: NotificationRow, signal?: AbortSignal) {
    try {
      const destination = await destinationOf(row);
      if (typeof destination === "string") return destination;
      const request = await requestOf(destination, row);
      const response = await send(destination.url, {
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

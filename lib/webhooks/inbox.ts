/**
 * The inbox: a verified delivery is stored once per (source, external id), then processed by its handler
 * after the answer, retried with backoff on failure and dead after MAX_ATTEMPTS.
 *
 * 1. A claim sets `processing`, counts the attempt and sets `claimed_until`; only `received` or `failed`
 *    rows that are due are claimed, with FOR UPDATE SKIP LOCKED, so two workers never take one row.
 * 2. The outcome is written only while the row still holds that claim: a claim released for outliving
 *    its deadline (step 3) cannot be overwritten by the slow worker that lost it.
 * 3. The sweeper releases claims past their deadline, then claims what is due.
 */
import { and, desc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { type WEBHOOK_INBOX_STATUSES, webhookInbox, webhookSources } from "../db/schema/index.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { WebhookHandlers } from "./handlers.ts";

export const MAX_ATTEMPTS = 8;
/** How long one attempt may hold its claim before the sweeper hands the row to another. */
export const CLAIM_DURATION_MS = 60_000;
/** Delay before the next attempt after the n-th failure (the last applies to every later one), ±20 %. */
export const RETRY_DELAYS_MS = [30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000] as const;
export const SWEEP_BATCH_SIZE = 50;
const MAX_ERROR_LENGTH = 500;

export type InboxStatus = (typeof WEBHOOK_INBOX_STATUSES)[number];

export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length) - 1] ?? RETRY_DELAYS_MS[0];
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Stores a verified delivery; the id of the new row, or undefined when it was already received. */
export async function recordDelivery(
  db: Db,
  delivery: { sourceId: string; externalId: string; signedAtMs?: number; eventType: string | null; body: Uint8Array },
  nowMs: number,
): Promise<number | undefined> {
  const [row] = await db
    .insert(webhookInbox)
    .values({
      sourceId: delivery.sourceId,
      externalId: delivery.externalId,
      signedAt: delivery.signedAtMs === undefined ? null : new Date(delivery.signedAtMs),
      eventType: delivery.eventType,
      body: delivery.body,
      receivedAt: new Date(nowMs),
      nextAttemptAt: new Date(nowMs),
    })
    .onConflictDoNothing({ target: [webhookInbox.sourceId, webhookInbox.externalId] })
    .returning({ id: webhookInbox.id });
  return row?.id;
}

type ClaimedRow = typeof webhookInbox.$inferSelect;

const due = (nowMs: number) =>
  and(inArray(webhookInbox.status, ["received", "failed"]), lte(webhookInbox.nextAttemptAt, new Date(nowMs)));

const claimValues = (nowMs: number) => ({
  status: "processing" as const,
  attempts: sql`${webhookInbox.attempts} + 1`,
  claimedUntil: new Date(nowMs + CLAIM_DURATION_MS),
});

async function claimOne(db: Db, id: number, nowMs: number): Promise<ClaimedRow[]> {
  return db
    .update(webhookInbox)
    .set(claimValues(nowMs))
    .where(and(eq(webhookInbox.id, id), due(nowMs)))
    .returning();
}

async function claimDue(db: Db, nowMs: number): Promise<ClaimedRow[]> {
  const dueIds = db
    .select({ id: webhookInbox.id })
    .from(webhookInbox)
    .where(due(nowMs))
    .orderBy(webhookInbox.id)
    .limit(SWEEP_BATCH_SIZE)
    .for("update", { skipLocked: true });
  return db.update(webhookInbox).set(claimValues(nowMs)).where(inArray(webhookInbox.id, dueIds)).returning();
}

async function runClaimed(runtime: Runtime, handlers: WebhookHandlers, row: ClaimedRow): Promise<InboxStatus> {
  const db = runtime.db.primary;
  const [source] = await db
    .select({ orgId: webhookSources.orgId, kind: webhookSources.kind })
    .from(webhookSources)
    .where(eq(webhookSources.id, row.sourceId));
  const handler = source === undefined ? undefined : handlers.find(source.kind, row.eventType);
  let outcome: { status: InboxStatus; lastError: string | null; nextAttemptAt?: Date };
  try {
    if (source !== undefined && handler !== undefined && row.body !== null)
      await handler(
        {
          id: row.id,
          sourceId: row.sourceId,
          orgId: source.orgId,
          kind: source.kind,
          eventType: row.eventType ?? "",
          externalId: row.externalId,
          body: row.body,
          attempt: row.attempts,
        },
        runtime,
      );
    outcome = { status: "done", lastError: null };
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);
    const dead = row.attempts >= MAX_ATTEMPTS;
    if (dead) runtime.logger.error("webhook delivery is dead", { deliveryId: row.id, attempts: row.attempts });
    outcome = dead
      ? { status: "dead", lastError: message }
      : {
          status: "failed",
          lastError: message,
          nextAttemptAt: new Date(runtime.now() + retryDelayMs(row.attempts)),
        };
  }
  // Only while the claim is still this one (see the module comment, step 2).
  const claim = row.claimedUntil;
  await db
    .update(webhookInbox)
    .set({ ...outcome, claimedUntil: null })
    .where(
      and(
        eq(webhookInbox.id, row.id),
        eq(webhookInbox.status, "processing"),
        claim === null ? sql`false` : eq(webhookInbox.claimedUntil, claim),
      ),
    );
  return outcome.status;
}

/** Processes one delivery if it is due and unclaimed: right after it is received, or after a replay. */
export async function processDelivery(runtime: Runtime, handlers: WebhookHandlers, id: number): Promise<void> {
  const [row] = await claimOne(runtime.db.primary, id, runtime.now());
  if (row !== undefined) await runClaimed(runtime, handlers, row);
}

/** Releases claims that outlived their deadline, then processes what is due, a batch at a time. */
export async function sweepInbox(runtime: Runtime, handlers: WebhookHandlers, signal: AbortSignal) {
  const db = runtime.db.primary;
  const nowMs = runtime.now();
  const released = await db
    .update(webhookInbox)
    .set({
      status: sql`case when ${webhookInbox.attempts} >= ${MAX_ATTEMPTS} then 'dead' else 'failed' end`,
      claimedUntil: null,
      nextAttemptAt: new Date(nowMs),
      lastError: "the attempt outlived its claim",
    })
    .where(and(eq(webhookInbox.status, "processing"), lt(webhookInbox.claimedUntil, new Date(nowMs))))
    .returning({ id: webhookInbox.id });
  const counts: Record<InboxStatus, number> = { received: 0, processing: 0, done: 0, failed: 0, dead: 0 };
  while (!signal.aborted) {
    const claimed = await claimDue(db, runtime.now());
    for (const row of claimed) counts[await runClaimed(runtime, handlers, row)] += 1;
    if (claimed.length < SWEEP_BATCH_SIZE) break;
  }
  return { released: released.length, ...counts };
}

export interface DeliveryView {
  id: number;
  sourceId: string;
  externalId: string;
  eventType: string | null;
  status: InboxStatus;
  attempts: number;
  receivedAt: string;
  nextAttemptAt: string;
  lastError: string | null;
}

/** An organization's deliveries, newest first, `limit` at a time below the cursor `before` (an id). */
export async function listDeliveries(
  db: Db,
  orgId: string,
  options: { status?: InboxStatus; before?: number; limit: number },
): Promise<{ deliveries: DeliveryView[]; nextBefore: number | null }> {
  const rows = await db
    .select({
      id: webhookInbox.id,
      sourceId: webhookInbox.sourceId,
      externalId: webhookInbox.externalId,
      eventType: webhookInbox.eventType,
      status: webhookInbox.status,
      attempts: webhookInbox.attempts,
      receivedAt: webhookInbox.receivedAt,
      nextAttemptAt: webhookInbox.nextAttemptAt,
      lastError: webhookInbox.lastError,
    })
    .from(webhookInbox)
    .innerJoin(webhookSources, eq(webhookSources.id, webhookInbox.sourceId))
    .where(
      and(
        eq(webhookSources.orgId, orgId),
        options.status === undefined ? undefined : eq(webhookInbox.status, options.status),
        options.before === undefined ? undefined : lt(webhookInbox.id, options.before),
      ),
    )
    .orderBy(desc(webhookInbox.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  return {
    deliveries: page.map((row) => ({
      ...row,
      receivedAt: row.receivedAt.toISOString(),
      nextAttemptAt: row.nextAttemptAt.toISOString(),
    })),
    nextBefore: rows.length > options.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/**
 * Makes a dead delivery due once more, with one attempt left: a replay runs the handler once, and a
 * failure leaves it dead again. Returns why it cannot be replayed, or undefined when it was.
 */
export async function markForReplay(
  db: Db,
  orgId: string,
  id: number,
  nowMs: number,
): Promise<"not-found" | "not-dead" | "pruned" | undefined> {
  const [row] = await db
    .select({ status: webhookInbox.status, pruned: sql<boolean>`${webhookInbox.body} is null` })
    .from(webhookInbox)
    .innerJoin(webhookSources, eq(webhookSources.id, webhookInbox.sourceId))
    .where(and(eq(webhookInbox.id, id), eq(webhookSources.orgId, orgId)));
  if (row === undefined) return "not-found";
  if (row.pruned) return "pruned";
  const replayed = await db
    .update(webhookInbox)
    .set({ status: "received", attempts: MAX_ATTEMPTS - 1, nextAttemptAt: new Date(nowMs) })
    .where(and(eq(webhookInbox.id, id), eq(webhookInbox.status, "dead")))
    .returning({ id: webhookInbox.id });
  return replayed.length === 0 ? "not-dead" : undefined;
}

/**
 * Alert state per (SLO, severity), moved by each evaluation:
 * 1. resolved (or never seen) → firing as soon as a rule of that severity holds;
 * 2. firing → resolved once no rule has held for `resolveAfterMs` (a rule holding again meanwhile resets the wait),
 *    so a burn rate hovering at its threshold does not page, resolve and page again;
 * 3. each change is one conditional update (a concurrent evaluation cannot apply it twice), with its audit row and
 *    one queued notification per channel (configured or stored) in the same transaction.
 */
import { and, eq } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { sloAlertNotifications, sloAlerts } from "../db/schema/index.ts";
import {
  type AlertSeverity,
  BURN_RATE_RULES,
  LONGEST_RULE_WINDOW_MS,
  type RuleReading,
  readRule,
} from "./burn-rate-rules.ts";
import type { Slo } from "./slo-declaration.ts";
import type { MinuteSource } from "./slo-events.ts";

export type AlertChannel = (typeof sloAlertNotifications.$inferInsert)["channel"];
export type AlertEvent = "firing" | "resolved";

/** Where a notification goes: a stored channel by its id, or (null) the channel of that kind the environment sets. */
export interface AlertTarget {
  channel: AlertChannel;
  channelId: string | null;
}

/** One state change, as audited and as sent to every channel. */
export interface AlertChange {
  slo: string;
  group: string;
  sli: Slo["sli"]["kind"];
  objective: number;
  severity: AlertSeverity;
  event: AlertEvent;
  dedupKey: string;
  at: string;
  /** The rules of this severity read at the change; on firing, at least one holds. */
  readings: RuleReading[];
}

export interface SloAlertOptions {
  /** How long no rule must hold before a firing alert resolves. @default 5 minutes */
  resolveAfterMs: number;
}

export const DEFAULT_SLO_ALERT_OPTIONS: SloAlertOptions = { resolveAfterMs: 5 * 60_000 };

const SEVERITIES: readonly AlertSeverity[] = ["page", "ticket"];

/** Stable per (SLO, severity): PagerDuty closes the incident a trigger opened when a resolve carries the same key. */
export function dedupKeyOf(slo: string, severity: AlertSeverity): string {
  return `slo:${slo}:${severity}`;
}

type AlertRow = typeof sloAlerts.$inferSelect;

/** What an evaluation does to one alert; undefined when nothing changes. */
function nextStep(row: AlertRow | undefined, holds: boolean, now: Date, options: SloAlertOptions) {
  if (row === undefined || row.state === "resolved") return holds ? ({ kind: "fire" } as const) : undefined;
  if (holds) return row.clearSince === null ? undefined : ({ kind: "hold" } as const);
  if (row.clearSince === null) return { kind: "quiet" } as const;
  return now.getTime() - row.clearSince.getTime() >= options.resolveAfterMs
    ? ({ kind: "resolve" } as const)
    : undefined;
}

/**
 * Reads the rules for every SLO at `now`, moves the alerts' states and queues their notifications.
 * @returns the changes applied by this evaluation.
 */
export async function evaluateSloAlerts(
  db: Db,
  slos: readonly Slo[],
  source: MinuteSource,
  targets: readonly AlertTarget[],
  now: Date,
  options: SloAlertOptions = DEFAULT_SLO_ALERT_OPTIONS,
): Promise<AlertChange[]> {
  const rows = await source(new Date(now.getTime() - LONGEST_RULE_WINDOW_MS), now);
  const states = new Map((await db.select().from(sloAlerts)).map((row) => [`${row.slo} ${row.severity}`, row]));
  const changes: AlertChange[] = [];
  for (const slo of slos) {
    for (const severity of SEVERITIES) {
      const readings = BURN_RATE_RULES.filter((rule) => rule.severity === severity).map((rule) =>
        readRule(slo, rule, rows, now.getTime()),
      );
      const row = states.get(`${slo.name} ${severity}`);
      const step = nextStep(
        row,
        readings.some((reading) => reading.holds),
        now,
        options,
      );
      if (step === undefined) continue;
      const key = and(eq(sloAlerts.slo, slo.name), eq(sloAlerts.severity, severity));
      if (step.kind === "hold" || step.kind === "quiet") {
        await db
          .update(sloAlerts)
          .set({ clearSince: step.kind === "quiet" ? now : null, updatedAt: now })
          .where(and(key, eq(sloAlerts.state, "firing")));
        continue;
      }
      const change: AlertChange = {
        slo: slo.name,
        group: slo.group,
        sli: slo.sli.kind,
        objective: slo.objective,
        severity,
        event: step.kind === "fire" ? "firing" : "resolved",
        dedupKey: dedupKeyOf(slo.name, severity),
        at: now.toISOString(),
        readings,
      };
      if (await applyChange(db, row, change, targets, now)) changes.push(change);
    }
  }
  return changes;
}

/** Writes one change if the row still holds the state it was read in; false when another evaluation got there first. */
async function applyChange(
  db: Db,
  row: AlertRow | undefined,
  change: AlertChange,
  targets: readonly AlertTarget[],
  now: Date,
): Promise<boolean> {
  const values = {
    state: change.event,
    since: now,
    clearSince: null,
    details: { readings: change.readings },
    updatedAt: now,
  };
  return db.transaction(async (tx) => {
    const written =
      row === undefined
        ? await tx
            .insert(sloAlerts)
            .values({ slo: change.slo, severity: change.severity, dedupKey: change.dedupKey, ...values })
            .onConflictDoNothing()
            .returning({ slo: sloAlerts.slo })
        : await tx
            .update(sloAlerts)
            .set(values)
            .where(
              and(
                eq(sloAlerts.slo, change.slo),
                eq(sloAlerts.severity, change.severity),
                eq(sloAlerts.state, row.state),
                eq(sloAlerts.updatedAt, row.updatedAt),
              ),
            )
            .returning({ slo: sloAlerts.slo });
    if (written.length === 0) return false;
    await recordAuditEvent(tx, {
      action: change.event === "firing" ? "slo.alert.firing" : "slo.alert.resolved",
      actor: { type: "system" },
      target: { type: "slo_alert", id: change.dedupKey },
      metadata: { slo: change.slo, severity: change.severity, readings: change.readings },
    });
    if (targets.length > 0)
      await tx.insert(sloAlertNotifications).values(
        targets.map(({ channel, channelId }) => ({
          channel,
          channelId,
          dedupKey: change.dedupKey,
          event: change.event,
          alert: change,
          createdAt: now,
          nextAttemptAt: now,
        })),
      );
    return true;
  });
}

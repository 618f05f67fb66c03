/**
 * Reads the audit log newest first, a page at a time. The cursor is the id of the last event returned:
 * ids only grow, so a page never repeats or skips an event however many are written meanwhile.
 */
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
import type { Arktype } from "../core/lazy-schema.ts";
import type { Database } from "../db/database.ts";
import { auditEvents } from "../db/schema/index.ts";

export interface AuditFilters {
  orgId?: string;
  action?: string;
  /** The actor's id: a user's or an API key's. */
  actor?: string;
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
  /** Events strictly older than this id (the previous page's `nextCursor`). */
  cursor?: number;
  limit?: number;
}

export interface AuditEventView {
  id: string;
  occurredAt: string;
  action: string;
  actor: { type: string; id: string | null };
  orgId: string | null;
  target: { type: string; id: string } | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  metadata: Record<string, unknown> | null;
}

export interface AuditPage {
  events: AuditEventView[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

// PostgreSQL's timestamptz has no year 0 and refuses ISO text past year 9999 (SQLSTATE 22008, 22009).
const EARLIEST_FILTER_MS = Date.parse("0001-01-01T00:00:00.000Z");
const LATEST_FILTER_MS = Date.parse("9999-12-31T23:59:59.999Z");

/** A `since` or `until` query value: an ISO 8601 date within what the audit table can be compared with. */
export const auditDateFilter = ({ type }: Arktype) =>
  type("string.date.iso.parse").narrow((date, ctx) => {
    const ms = date.getTime();
    return (
      (ms >= EARLIEST_FILTER_MS && ms <= LATEST_FILTER_MS) ||
      ctx.reject({ expected: "a date from 0001-01-01 to 9999-12-31", actual: "" })
    );
  });

export const DEFAULT_AUDIT_PAGE_SIZE = 50;
export const MAX_AUDIT_PAGE_SIZE = 200;

export async function queryAuditEvents(database: Database, filters: AuditFilters): Promise<AuditPage> {
  const limit = Math.min(filters.limit ?? DEFAULT_AUDIT_PAGE_SIZE, MAX_AUDIT_PAGE_SIZE);
  const conditions: SQL[] = [];
  if (filters.orgId !== undefined) conditions.push(eq(auditEvents.orgId, filters.orgId));
  if (filters.action !== undefined) conditions.push(eq(auditEvents.action, filters.action));
  if (filters.actor !== undefined) conditions.push(eq(auditEvents.actorId, filters.actor));
  if (filters.since !== undefined) conditions.push(gte(auditEvents.occurredAt, filters.since));
  if (filters.until !== undefined) conditions.push(lt(auditEvents.occurredAt, filters.until));
  if (filters.cursor !== undefined) conditions.push(lt(auditEvents.id, filters.cursor));
  // One row more than the page tells whether there is a next page without counting.
  const rows = await database.read((db) =>
    db
      .select()
      .from(auditEvents)
      .where(and(...conditions))
      .orderBy(desc(auditEvents.id))
      .limit(limit + 1),
  );
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    events: page.map((row) => ({
      id: String(row.id),
      occurredAt: row.occurredAt.toISOString(),
      action: row.action,
      actor: { type: row.actorType, id: row.actorId },
      orgId: row.orgId,
      target: row.targetType === null || row.targetId === null ? null : { type: row.targetType, id: row.targetId },
      ip: row.ip,
      userAgent: row.userAgent,
      requestId: row.requestId,
      metadata: row.metadata,
    })),
    nextCursor: rows.length > limit && last !== undefined ? String(last.id) : null,
  };
}

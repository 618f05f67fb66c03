/** An organization's events as a stream reads them: the outbox rows, by their number within the organization. */
import { and, asc, eq, gt } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { orgEventSequences, webhookMessages } from "../db/schema/index.ts";

export interface OrgEvent {
  /** Dense and in commit order within the organization: the stream's event id. */
  readonly seq: number;
  readonly type: string;
  readonly data: unknown;
  readonly createdAt: string;
}

/** The organization's last event number, 0 before its first event. */
export async function lastEventSeq(db: Db, orgId: string): Promise<number> {
  const [row] = await db
    .select({ lastSeq: orgEventSequences.lastSeq })
    .from(orgEventSequences)
    .where(eq(orgEventSequences.orgId, orgId));
  return row?.lastSeq ?? 0;
}

/** Up to `limit` events numbered above `afterSeq`, in order. */
export async function readEventsAfter(db: Db, orgId: string, afterSeq: number, limit: number): Promise<OrgEvent[]> {
  const rows = await db
    .select({
      seq: webhookMessages.seq,
      type: webhookMessages.eventType,
      data: webhookMessages.payload,
      createdAt: webhookMessages.createdAt,
    })
    .from(webhookMessages)
    .where(and(eq(webhookMessages.orgId, orgId), gt(webhookMessages.seq, afterSeq)))
    .orderBy(asc(webhookMessages.seq))
    .limit(limit);
  return rows.map((row) => ({
    seq: row.seq as number,
    type: row.type,
    data: row.data,
    createdAt: row.createdAt.toISOString(),
  }));
}

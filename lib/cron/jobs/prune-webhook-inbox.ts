/**
 * Drops the bodies of finished deliveries after BODY_RETENTION_MS, and their rows after ID_RETENTION_MS.
 * The id outlives the body because it is the only replay defence for GitHub, which signs no timestamp.
 */
import { and, inArray, isNotNull, lt } from "drizzle-orm";
import { webhookInbox } from "../../db/schema/index.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const BODY_RETENTION_MS = 7 * 86_400_000;
export const ID_RETENTION_MS = 30 * 86_400_000;
const FINISHED = ["done", "dead"] as const;

export const pruneWebhookInbox: ScheduledJob = {
  name: "prune-webhook-inbox",
  schedule: "53 3 * * *",
  async run(runtime) {
    const db = runtime.db.primary;
    const now = runtime.now();
    const finished = inArray(webhookInbox.status, FINISHED);
    const bodies = await db
      .update(webhookInbox)
      .set({ body: null })
      .where(
        and(finished, isNotNull(webhookInbox.body), lt(webhookInbox.receivedAt, new Date(now - BODY_RETENTION_MS))),
      )
      .returning({ id: webhookInbox.id });
    const rows = await db
      .delete(webhookInbox)
      .where(and(finished, lt(webhookInbox.receivedAt, new Date(now - ID_RETENTION_MS))))
      .returning({ id: webhookInbox.id });
    return `pruned ${bodies.length} bodies and ${rows.length} delivery ids`;
  },
};

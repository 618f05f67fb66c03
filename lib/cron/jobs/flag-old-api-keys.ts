/**
 * Flags live API keys older than their organization's `api_key_max_age_days`, in bounded batches, with an
 * `api_key.flagged` audit event each. Flagging does not disable a key: it tells the org to rotate it.
 */
import { and, eq, gt, inArray, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import { recordAuditEvents } from "../../audit/audit-log.ts";
import { orgAuditTag, orgKeysTag } from "../../cache/cache-tags.ts";
import { purgeAfterCommit } from "../../cache/purge-after-commit.ts";
import { apiKeys, organizations } from "../../db/schema/index.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

const BATCH_SIZE = 500;
const DAY_MS = 86_400_000;

export const flagOldApiKeys: ScheduledJob = {
  name: "flag-old-api-keys",
  schedule: "41 5 * * *",
  async run(runtime, signal) {
    const db = runtime.db.primary;
    const now = new Date();
    const due = and(
      isNotNull(organizations.apiKeyMaxAgeDays),
      isNull(apiKeys.flaggedAt),
      isNull(apiKeys.revokedAt),
      // A key already rotated is on its way out; a dead one needs no warning.
      isNull(apiKeys.replacedBy),
      or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
      lt(
        apiKeys.createdAt,
        sql`${now.toISOString()}::timestamptz - make_interval(days => ${organizations.apiKeyMaxAgeDays})`,
      ),
    );
    let flagged = 0;
    while (!signal.aborted) {
      const { found, orgIds } = await db.transaction(async (tx) => {
        const candidates = await tx
          .select({
            id: apiKeys.id,
            orgId: apiKeys.orgId,
            createdAt: apiKeys.createdAt,
            maxAgeDays: organizations.apiKeyMaxAgeDays,
          })
          .from(apiKeys)
          .innerJoin(organizations, eq(organizations.id, apiKeys.orgId))
          .where(due)
          .orderBy(apiKeys.id)
          .limit(BATCH_SIZE);
        if (candidates.length === 0) return { found: 0, orgIds: new Set<string>() };
        // Only rows this run flagged get an event, should another run have raced it.
        const rows = await tx
          .update(apiKeys)
          .set({ flaggedAt: now })
          .where(
            and(
              inArray(
                apiKeys.id,
                candidates.map((key) => key.id),
              ),
              isNull(apiKeys.flaggedAt),
            ),
          )
          .returning({ id: apiKeys.id });
        const flaggedIds = new Set(rows.map((row) => row.id));
        const flaggedKeys = candidates.filter((key) => flaggedIds.has(key.id));
        await recordAuditEvents(
          tx,
          flaggedKeys.map((key) => ({
            action: "api_key.flagged" as const,
            actor: { type: "system" as const, id: "flag-old-api-keys" },
            orgId: key.orgId,
            target: { type: "api_key", id: key.id },
            metadata: {
              ageDays: Math.floor((now.getTime() - key.createdAt.getTime()) / DAY_MS),
              maxAgeDays: key.maxAgeDays,
            },
          })),
        );
        flagged += flaggedIds.size;
        return { found: candidates.length, orgIds: new Set(flaggedKeys.map((key) => key.orgId)) };
      });
      await purgeAfterCommit(
        runtime,
        [...orgIds].flatMap((orgId) => [orgKeysTag(orgId), orgAuditTag(orgId)]),
      );
      if (found < BATCH_SIZE) break;
    }
    return `flagged ${flagged} API keys`;
  },
};

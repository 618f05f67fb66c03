/**
 * Changes kept outside the database (live settings, emergency mode, the IP blocklist, all in the store)
 * cannot share a transaction with their audit row, so the row is written first:
 * 1. the change is validated, so a refused request leaves no row;
 * 2. its audit row commits; when it cannot, nothing is applied and the caller gets the error;
 * 3. the change is applied; when that fails, an `admin.change_failed` row names the first one, so the log
 *    reads "asked for, then failed" rather than a change that is not in force.
 * No change is ever in force without its row; the rare leftover is a row for a change that did not happen
 * (the follow-up row failing too), which the log states as attempted, not as hidden.
 */
import type { Db } from "../db/database.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";
import { type AuditEvent, recordAuditEvent } from "./audit-log.ts";

export interface AuditFirstContext {
  db: Db;
  logger: Logger;
  request?: Request;
}

/** Records `event`, then runs `apply`; `apply`'s error is recorded as `admin.change_failed` and rethrown. */
export async function applyAfterAudit<T>(
  context: AuditFirstContext,
  event: AuditEvent,
  apply: () => Promise<T>,
): Promise<T> {
  const { db, logger, request } = context;
  const auditEventId = await recordAuditEvent(db, event, request);
  try {
    return await apply();
  } catch (error) {
    const code = error instanceof AppError ? error.code : "INTERNAL";
    const failed: AuditEvent = {
      action: "admin.change_failed",
      actor: event.actor,
      target: event.target,
      metadata: { auditEventId, action: event.action, code },
    };
    await recordAuditEvent(db, failed, request).catch((auditError: unknown) =>
      logger.error("recording that an audited change failed did not succeed", {
        auditEventId,
        action: event.action,
        error: auditError,
      }),
    );
    throw error;
  }
}

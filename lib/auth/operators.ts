/**
 * The platform's operator role: users who may call the admin routes with their own access token. It is
 * looked up on every admin call, so granting, revoking or disabling the account takes effect at once.
 */
import { and, asc, eq, ne } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { ACCOUNT_COLUMNS, type Account, UUID } from "./accounts.ts";

export async function isOperator(db: Db, userId: string): Promise<boolean> {
  const [row] = await db.select({ id: users.id }).from(users).where(and(eq(users.id, userId), eq(users.platformRole, "operator"), eq(users.disabled, false)));
  return row !== undefined;
}

/** Operators who can act: a disabled account keeps its role but is refused, so it is not listed. */
export async function listOperators(db: Db): Promise<Account[]> {
  return db.select(ACCOUNT_COLUMNS).from(users).where(and(eq(users.platformRole, "operator"), eq(users.disabled, false))).orderBy(asc(users.createdAt));
}

/**
 * Grants (or revokes) the role, with its audit row in the same transaction. Granting is idempotent (an
 * operator named again is answered as is, with no second audit row); 404 for an unknown user, for a
 * disabled one when granting, and for a user without the role when revoking.
 */
export async function setOperator(runtime: Runtime, userId: string, operator: boolean, actor: AuditEvent["actor"], request?: Request): Promise<Account> {
  if (!UUID.test(userId)) throw new AppError("NOT_FOUND", "No such user.");
  const role = operator ? "operator" : "user";
  return runtime.db.primary.transaction(async (tx) => {
    const changing = operator ? and(eq(users.id, userId), ne(users.platformRole, role), eq(users.disabled, false)) : and(eq(users.id, userId), ne(users.platformRole, role));
    const [account] = await tx.update(users).set({ platformRole: role }).where(changing).returning(ACCOUNT_COLUMNS);
    if (account !== undefined) {
      await recordAuditEvent(tx, { action: operator ? "admin.operator.granted" : "admin.operator.revoked", actor, target: { type: "user", id: userId } }, request);
      return account;
    }
    const [already] = operator ? await tx.select(ACCOUNT_COLUMNS).from(users).where(and(eq(users.id, userId), eq(users.platformRole, role), eq(users.disabled, false))) : [];
    if (already === undefined) throw new AppError("NOT_FOUND", operator ? "No such active user." : "This user is not an operator.");
    return already;
  });
}

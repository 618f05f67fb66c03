/**
 * The platform's operator role: users who may call the admin routes with their own access token. It is
 * looked up on every admin call, so granting, revoking or disabling the account takes effect at once.
 */
import { and, asc, eq } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { type Account, UUID } from "./accounts.ts";

const ACCOUNT_COLUMNS = { id: users.id, email: users.email, createdAt: users.createdAt };

export async function isOperator(db: Db, userId: string): Promise<boolean> {
  const [row] = await db.select({ id: users.id }).from(users).where(and(eq(users.id, userId), eq(users.platformRole, "operator"), eq(users.disabled, false)));
  return row !== undefined;
}

export async function listOperators(db: Db): Promise<Account[]> {
  return db.select(ACCOUNT_COLUMNS).from(users).where(eq(users.platformRole, "operator")).orderBy(asc(users.createdAt));
}

/** Grants (or revokes) the role; 404 for an unknown user, and for a disabled one when granting. */
export async function setOperator(runtime: Runtime, userId: string, operator: boolean, actor: AuditEvent["actor"], request?: Request): Promise<Account> {
  if (!UUID.test(userId)) throw new AppError("NOT_FOUND", "No such user.");
  const db = runtime.db.primary;
  const where = operator ? and(eq(users.id, userId), eq(users.disabled, false)) : and(eq(users.id, userId), eq(users.platformRole, "operator"));
  const [account] = await db.update(users).set({ platformRole: operator ? "operator" : "user" }).where(where).returning(ACCOUNT_COLUMNS);
  if (account === undefined) throw new AppError("NOT_FOUND", operator ? "No such active user." : "This user is not an operator.");
  await recordAuditEvent(db, { action: operator ? "admin.operator.granted" : "admin.operator.revoked", actor, target: { type: "user", id: userId } }, request);
  return account;
}

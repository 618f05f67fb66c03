/**
 * The platform's operator role: users who may call the admin routes with their own access token. It is
 * looked up on every admin call, so revoking it or disabling the account takes effect at once. Only a
 * "no" is remembered, for a few seconds per user on an instance, so that a signed-in non-operator
 * hammering admin routes costs one query per interval; granting clears it on the granting instance.
 */
import { and, asc, eq, ne } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import { setBounded } from "../collections/bounded-map.ts";
import type { Database, Db } from "../db/database.ts";
import { users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { ACCOUNT_COLUMNS, type Account, UUID } from "./accounts.ts";

export interface OperatorCheckOptions {
  /** How long an instance remembers that a user is not an operator. */
  refusalTtlMs: number;
  /** Users remembered at most; the oldest is forgotten past this. */
  maxRemembered: number;
  /** The time in milliseconds a remembered "no" ages by; tests move it instead of sleeping. @default Date.now */
  now: () => number;
}

export const DEFAULT_OPERATOR_CHECK: OperatorCheckOptions = {
  refusalTtlMs: 5_000,
  maxRemembered: 10_000,
  now: Date.now,
};

export interface OperatorCheck {
  isOperator(userId: string): Promise<boolean>;
  /** Drops a remembered "no" (the user was just granted the role). */
  forget(userId: string): void;
}

/** The operator check of one instance, shared by the admin guard and the grant endpoint. */
export function openOperatorCheck(db: Database, options: Partial<OperatorCheckOptions> = {}): OperatorCheck {
  return createOperatorCheck((userId) => isOperator(db.primary, userId), options);
}

/** `lookup` reads the role from the database (isOperator). */
export function createOperatorCheck(
  lookup: (userId: string) => Promise<boolean>,
  options: Partial<OperatorCheckOptions> = {},
): OperatorCheck {
  const { refusalTtlMs, maxRemembered, now } = { ...DEFAULT_OPERATOR_CHECK, ...options };
  const refusedAt = new Map<string, number>();
  // A query already running is shared only for its "no": a "yes" it read may predate a revocation.
  const pending = new Map<string, Promise<boolean>>();
  // Bumped by forget(): a "no" read before a grant is not remembered after it.
  const grants = new Map<string, number>();
  const query = (userId: string): Promise<boolean> => {
    const grantsBefore = grants.get(userId);
    const answer = lookup(userId)
      .then((yes) => {
        if (!yes && grants.get(userId) === grantsBefore) setBounded(refusedAt, userId, now(), maxRemembered);
        return yes;
      })
      .finally(() => {
        if (pending.get(userId) === answer) pending.delete(userId);
      });
    pending.set(userId, answer);
    return answer;
  };
  return {
    isOperator(userId) {
      const at = refusedAt.get(userId);
      if (at !== undefined && now() - at < refusalTtlMs) return Promise.resolve(false);
      const running = pending.get(userId);
      if (running === undefined) return query(userId);
      return running.then((yes) => (yes ? lookup(userId) : false));
    },
    forget(userId) {
      refusedAt.delete(userId);
      pending.delete(userId);
      grants.set(userId, (grants.get(userId) ?? 0) + 1);
    },
  };
}

export async function isOperator(db: Db, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.id, userId), eq(users.platformRole, "operator"), eq(users.disabled, false)));
  return row !== undefined;
}

/** Operators who can act: a disabled account keeps its role but is refused, so it is not listed. */
export async function listOperators(db: Db): Promise<Account[]> {
  return db
    .select(ACCOUNT_COLUMNS)
    .from(users)
    .where(and(eq(users.platformRole, "operator"), eq(users.disabled, false)))
    .orderBy(asc(users.createdAt));
}

/**
 * Grants (or revokes) the role, with its audit row in the same transaction. Granting is idempotent (an
 * operator named again is answered as is, with no second audit row); 404 for an unknown user, for a
 * disabled one when granting, and for a user without the role when revoking.
 */
export async function setOperator(
  runtime: { readonly db: Database; readonly services: { readonly operators: OperatorCheck } },
  userId: string,
  operator: boolean,
  actor: AuditEvent["actor"],
  request?: Request,
): Promise<Account> {
  if (!UUID.test(userId)) throw new AppError("NOT_FOUND", "No such user.");
  const role = operator ? "operator" : "user";
  const account = await runtime.db.primary.transaction(async (tx) => {
    const changing = operator
      ? and(eq(users.id, userId), ne(users.platformRole, role), eq(users.disabled, false))
      : and(eq(users.id, userId), ne(users.platformRole, role));
    const [account] = await tx.update(users).set({ platformRole: role }).where(changing).returning(ACCOUNT_COLUMNS);
    if (account !== undefined) {
      await recordAuditEvent(
        tx,
        {
          action: operator ? "admin.operator.granted" : "admin.operator.revoked",
          actor,
          target: { type: "user", id: userId },
        },
        request,
      );
      return account;
    }
    const [already] = operator
      ? await tx
          .select(ACCOUNT_COLUMNS)
          .from(users)
          .where(and(eq(users.id, userId), eq(users.platformRole, role), eq(users.disabled, false)))
      : [];
    if (already === undefined)
      throw new AppError("NOT_FOUND", operator ? "No such active user." : "This user is not an operator.");
    return already;
  });
  // Once committed, so that no check can read the old role and remember it afterwards.
  if (operator) runtime.services.operators.forget(userId);
  return account;
}

/**
 * The EMAIL_VERIFICATION_REQUIRED check for routes other than login (creating an organization). Its own file:
 * the functions that only check cannot carry the templates and transports that send.
 */
import { eq } from "drizzle-orm";
import { users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { IdentityRuntime } from "./identity.ts";

/** Refuses an account whose address is not verified, when the setting is on (one query; none when off). */
export async function requireVerifiedEmail(runtime: IdentityRuntime, userId: string): Promise<void> {
  if (!runtime.config.email.verificationRequired) return;
  const [user] = await runtime.db.primary
    .select({ verifiedAt: users.emailVerifiedAt })
    .from(users)
    .where(eq(users.id, userId));
  if (user?.verifiedAt == null) throw new AppError("EMAIL_NOT_VERIFIED");
}

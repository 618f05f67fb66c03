/**
 * Who may call the admin routes: a signed-in user holding the operator role (lib/auth/operators.ts), or
 * the ADMIN_TOKEN bearer, kept to name the first operator and to get back in when no operator can sign
 * in. The role is read from the database on every call (only a "no" is remembered, for a few seconds: see
 * lib/auth/operators.ts), so revoking it or disabling the account takes effect at once, whatever access
 * tokens are still unexpired. Routes that opt in (`metricsToken: true`) also admit METRICS_TOKEN, a scraper's
 * credential that every other admin route refuses.
 */

import type { Authenticator } from "../auth/authenticate.ts";
import { bearerTokenOf } from "../auth/bearer-token.ts";
import { secretsEqual } from "../auth/constant-time.ts";
import { ACCESS_TOKEN_SHAPE } from "../core/access-token-shape.ts";
import type { Caller } from "../core/caller.ts";
import type { ResolvedPolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";

export interface AdminAccessOptions {
  adminToken: string | undefined;
  metricsToken: string | undefined;
  authenticate: Authenticator;
  isOperator(userId: string): Promise<boolean>;
  logger: Logger;
}

/** The operator's user when the call was made with an access token; undefined for ADMIN_TOKEN and METRICS_TOKEN. */
export type AdminAccess = (
  request: Request,
  policy: ResolvedPolicy,
) => Promise<Extract<Caller, { kind: "user" }> | undefined>;

export function createAdminAccess({
  adminToken,
  metricsToken,
  authenticate,
  isOperator,
  logger,
}: AdminAccessOptions): AdminAccess {
  let warned = false;
  return async (request, policy) => {
    const presented = bearerTokenOf(request);
    if (adminToken !== undefined && secretsEqual(presented, adminToken)) return undefined;
    if (policy.metricsToken && metricsToken !== undefined && secretsEqual(presented, metricsToken)) return undefined;
    if (!ACCESS_TOKEN_SHAPE.test(presented)) {
      if (adminToken === undefined && !warned)
        logger.warn("admin request refused: ADMIN_TOKEN is not set and no operator token was presented");
      warned = true;
      throw new AppError("UNAUTHORIZED");
    }
    const caller = await authenticate(request, policy);
    if (caller.kind !== "user") throw new AppError("UNAUTHORIZED");
    if (!(await isOperator(caller.userId))) throw new AppError("FORBIDDEN", "This route is for operators.");
    return caller;
  };
}

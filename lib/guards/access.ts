/**
 * Who may call a route, checked before the body is read: anyone, or the scheduler (CRON_SECRET). A missing
 * secret refuses every call: fail closed. Admin routes are checked by admin-access.ts, user routes by
 * lib/auth/authenticate.ts: both need the runtime's keys.
 */
import { bearerTokenOf } from "../auth/bearer-token.ts";
import { secretsEqual } from "../auth/constant-time.ts";
import type { Config } from "../config/config.ts";
import type { Access } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";

export type AccessCheck = (request: Request) => void;

function bearerCheck(secret: string | undefined, name: string, logger: Logger): AccessCheck {
  let warned = false;
  return (request) => {
    if (secret === undefined) {
      if (!warned) logger.warn(`request refused: ${name} is not set`);
      warned = true;
      throw new AppError("UNAUTHORIZED");
    }
    if (!secretsEqual(bearerTokenOf(request), secret)) throw new AppError("UNAUTHORIZED");
  };
}

export function createAccessChecks(config: Config, logger: Logger): Record<Access, AccessCheck | undefined> {
  return {
    public: undefined,
    admin: undefined,
    cron: bearerCheck(config.cronSecret, "CRON_SECRET", logger),
    user: undefined,
    "user-or-key": undefined,
    key: undefined,
  };
}

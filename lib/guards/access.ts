/**
 * The scheduler's access to cron routes (CRON_SECRET). A missing secret refuses every call: fail closed.
 * Admin routes are checked by admin-access.ts, user routes by lib/auth/authenticate.ts: both need the
 * runtime's keys; lib/http/access-strategies.ts picks one per access kind.
 */
import { bearerTokenOf } from "../auth/bearer-token.ts";
import { secretsEqual } from "../auth/constant-time.ts";
import type { Config } from "../config/config.ts";
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

export function createCronCheck(config: Config, logger: Logger): AccessCheck {
  return bearerCheck(config.cronSecret, "CRON_SECRET", logger);
}

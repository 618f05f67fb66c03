/** Cron triggers carry `Authorization: Bearer $CRON_SECRET`; without a configured secret every trigger is refused. */
import { secretsEqual } from "../auth/constant-time.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";

export function createCronAuthorizer(cronSecret: string | undefined, logger: Logger) {
  let warnedUnset = false;
  return (authorization: string | null): void => {
    if (cronSecret === undefined) {
      if (!warnedUnset) logger.warn("cron trigger refused: CRON_SECRET is not set");
      warnedUnset = true;
      throw new AppError("UNAUTHORIZED");
    }
    const token = authorization?.startsWith("Bearer ") ? authorization.slice(7) : "";
    if (!secretsEqual(token, cronSecret)) throw new AppError("UNAUTHORIZED");
  };
}

/** The signed-in user behind a request that passed the `user` access check. */

import { requestContextOf } from "../core/request-context.ts";
import { AppError } from "../errors/app-error.ts";

export function signedInUserOf(request: Request): { userId: string; sessionId: string } {
  const caller = requestContextOf(request).caller;
  // Only a route declared `access: "user"` should ask; an API key there is refused before the handler runs.
  if (caller?.kind !== "user") throw new AppError("UNAUTHORIZED");
  return { userId: caller.userId, sessionId: caller.sessionId };
}

/** The caller behind a request that passed a `user` or `user-or-key` access check: a user or an API key. */

import type { Caller } from "../core/caller.ts";
import { requestContextOf } from "../core/request-context.ts";
import { AppError } from "../errors/app-error.ts";

export function authenticatedCallerOf(request: Request): Caller {
  const { caller } = requestContextOf(request);
  // Only routes the pipeline authenticated should ask.
  if (caller === undefined) throw new AppError("UNAUTHORIZED");
  return caller;
}

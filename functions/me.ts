/** The signed-in user's own account. */
import { Elysia } from "elysia";
import { findActiveAccount } from "../lib/auth/accounts.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

const ME: UserPolicy = {
  rateLimits: [{ name: "me", limit: 120, window: "1m", scope: "user" }],
  bodyLimitBytes: 0,
  timeout: "read",
};

export default defineRouteGroup("me", (runtime) =>
  new Elysia({ name: "me" }).use(policyPlugin).get(
    "/v1/me",
    async ({ user }) => {
      // A deleted or disabled account's token is refused here too, not only once its session revocation lands.
      const account = await findActiveAccount(runtime, user.userId);
      if (account === undefined) throw new AppError("UNAUTHORIZED");
      return { id: account.id, email: account.email, createdAt: account.createdAt.toISOString() };
    },
    { user: ME },
  ),
);

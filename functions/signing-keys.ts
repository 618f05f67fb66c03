/** Operator control of the JWT signing keys: a forced rotation, e.g. when a key may have leaked. */
import { Elysia } from "elysia";
import { rotateRuntimeSigningKeys } from "../lib/auth/signing-key-rotation.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

const ROTATE: UserPolicy = {
  rateLimits: [{ name: "rotate", limit: 5, window: "1m", scope: "ip" }],
  bodyLimitBytes: 0,
  timeout: "write",
};

export default defineRouteGroup("signing-keys", (runtime) =>
  new Elysia({ name: "signing-keys" }).use(policyPlugin).post(
    "/admin/signing-keys/rotate",
    async ({ actor, request }) => {
      const { current, next, retired } = await rotateRuntimeSigningKeys(runtime, {
        actor,
        request,
      });
      return { current, next, retired };
    },
    { admin: ROTATE },
  ),
);

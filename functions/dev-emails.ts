/**
 * The development mailbox: the messages the embedded e-mail transport kept, newest first, so `bun dev` users can
 * follow their links. Refused (404, as if absent) in production and whenever another transport is configured.
 */
import { Elysia } from "elysia";
import { perIp, READ } from "../lib/core/policy-presets.ts";
import { listMailbox } from "../lib/email/database-mailbox.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

export default defineRouteGroup("dev-emails", (runtime) => {
  const open = runtime.config.env !== "production" && runtime.config.email.provider === "database";
  return new Elysia({ name: "dev-emails" }).use(policyPlugin).get(
    "/dev/emails",
    async () => {
      if (!open) throw new AppError("NOT_FOUND");
      return { emails: await listMailbox(runtime.db.primary) };
    },
    { public: { ...READ, rateLimits: [perIp(120, "1m")] } },
  );
});

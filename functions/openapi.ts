/** The OpenAPI 3.1 document, generated at build time (`bun run build:openapi`) so no cold start pays for it. */
import { Elysia } from "elysia";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import document from "../openapi.json" with { type: "json" };

const DOCUMENT: UserPolicy = { body: "none", timeout: "read", cache: "public, max-age=300" };

export default defineRouteGroup("openapi", () =>
  new Elysia({ name: "openapi" }).use(policyPlugin).get("/openapi.json", () => document, { public: DOCUMENT }),
);

import { Elysia } from "elysia";
import { policyPlugin } from "./lib/http/policy-plugin.ts";

const BAD = { userOrKey: { scopes: ["orgs:raed"] }, org: "orgId" } as const;
new Elysia()
  .use(policyPlugin)
  .get("/a/:orgId", ({ caller, org }) => [caller.kind, org.id], BAD)
  .get("/b", ({ org }) => org.id, { user: {} })
  .get("/c", ({ user }) => user.userId, { key: { scopes: ["orgs:read"] } })
  .get("/d", () => 1, { user: { scopes: ["orgs:read"] } })
  .get("/e", ({ key }) => key.orgId, { key: { scopes: ["orgs:read"] }, org: "orgId" });

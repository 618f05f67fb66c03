/**
 * Operator endpoints: the IP blocklist, live settings, emergency mode, who is an operator, and disabling
 * an account. Callable by a user with the operator role, or with the ADMIN_TOKEN bearer.
 */
import { type } from "arktype";
import { Elysia } from "elysia";
import { adminActorName, adminActorOf } from "../lib/audit/admin-actor.ts";
import { type AuditEvent, recordAuditEvent } from "../lib/audit/audit-log.ts";
import { type Account, disableUser } from "../lib/auth/accounts.ts";
import { listOperators, setOperator } from "../lib/auth/operators.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { type IpBlock, openIpBlocker } from "../lib/guards/ip-block.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import type { RoutePolicy } from "../lib/http/route-policy.ts";
import { settingsPatchSchema } from "../lib/settings/settings-schema.ts";

const AddIpBlockBody = type({
  "+": "reject",
  /** "203.0.113.7", "10.0.0.0/8", "2001:db8::/48"; a single IPv6 address blocks its /64. */
  target: "0 < string <= 64",
  "ttlSeconds?": "1 <= number.integer <= 31536000",
  "reason?": "0 < string <= 200",
});
/** Any section of the settings, any of its fields; unknown keys are refused at every level. */
const SettingsPatchBody = settingsPatchSchema;
const EmergencyBody = type({ "+": "reject", enabled: "boolean" });

const ADMIN_READ: RoutePolicy = {
  access: "admin",
  rateLimits: [{ name: "admin-read", limit: 120, windowMs: 60_000, scope: "ip" }],
  bodyLimitBytes: 0,
  timeout: "read",
};
const ADMIN_WRITE: RoutePolicy = {
  access: "admin",
  rateLimits: [{ name: "admin-write", limit: 30, windowMs: 60_000, scope: "ip" }],
  bodyLimitBytes: 16 * 1024,
  timeout: "write",
};

const ADMIN_WRITE_NO_BODY: RoutePolicy = { ...ADMIN_WRITE, bodyLimitBytes: 0 };

function presentAccount(account: Account) {
  return { id: account.id, email: account.email, createdAt: account.createdAt.toISOString() };
}

function present(block: IpBlock) {
  return {
    target: block.target,
    expiresAt: block.expiresAt === null ? null : new Date(block.expiresAt).toISOString(),
    reason: block.reason,
    source: block.source,
    createdBy: block.createdBy,
    createdAt: new Date(block.createdAt).toISOString(),
  };
}

export default defineRouteGroup("admin", (runtime) => {
  const blocker = openIpBlocker(runtime);
  const { settings } = runtime;
  const audit = (request: Request, event: Omit<AuditEvent, "actor">) => recordAuditEvent(runtime.db.primary, { ...event, actor: adminActorOf(request) }, request);

  return new Elysia({ name: "admin" })
    .use(policyPlugin)
    .get("/admin/ip-blocks", async () => ({ blocks: (await blocker.list()).map(present) }), { policy: ADMIN_READ })
    .post("/admin/ip-blocks", async ({ body, request, set }) => {
      const ttlMs = body.ttlSeconds === undefined ? undefined : body.ttlSeconds * 1000;
      const block = await blocker.add(body.target, { ttlMs, reason: body.reason }, adminActorName(request));
      await audit(request, { action: "admin.ip_block.added", target: { type: "ip", id: block.target }, metadata: { reason: block.reason, expiresAt: block.expiresAt } });
      set.status = 201;
      return { block: present(block) };
    }, { policy: ADMIN_WRITE, body: AddIpBlockBody })
    .delete("/admin/ip-blocks/:target", async ({ params, request }) => {
      const removed = await blocker.remove(params.target, adminActorName(request));
      if (removed === undefined) throw new AppError("NOT_FOUND", "No block on this address or range.");
      await audit(request, { action: "admin.ip_block.removed", target: { type: "ip", id: removed } });
      return { removed };
    }, { policy: ADMIN_WRITE })
    .get("/admin/settings", () => ({ settings: settings.current() }), { policy: ADMIN_READ })
    .patch("/admin/settings", async ({ body, request }) => {
      const next = await settings.update(body, adminActorName(request));
      await audit(request, { action: "admin.settings.changed", target: { type: "settings", id: String(next.version) }, metadata: { patch: body } });
      return { settings: next };
    }, { policy: ADMIN_WRITE, body: SettingsPatchBody })
    .post("/admin/emergency", async ({ body, request }) => {
      const next = await settings.update({ emergency: { enabled: body.enabled } }, adminActorName(request));
      await audit(request, { action: "admin.emergency.changed", target: { type: "settings", id: String(next.version) }, metadata: { enabled: body.enabled } });
      return { emergency: next.emergency };
    }, { policy: ADMIN_WRITE, body: EmergencyBody })
    .get("/admin/operators", async () => ({ operators: (await listOperators(runtime.db.primary)).map(presentAccount) }), { policy: ADMIN_READ })
    .put("/admin/operators/:userId", async ({ params, request }) => {
      const account = await setOperator(runtime, params.userId, true, adminActorOf(request), request);
      return { operator: presentAccount(account) };
    }, { policy: ADMIN_WRITE_NO_BODY })
    .delete("/admin/operators/:userId", async ({ params, request }) => {
      const account = await setOperator(runtime, params.userId, false, adminActorOf(request), request);
      return { revoked: presentAccount(account) };
    }, { policy: ADMIN_WRITE_NO_BODY })
    .post("/admin/users/:userId/disable", async ({ params, request }) => {
      const { revokedSessions } = await disableUser(runtime, params.userId, adminActorOf(request), request);
      return { userId: params.userId, disabled: true, revokedSessions };
    }, { policy: ADMIN_WRITE_NO_BODY });
});

/**
 * Operator endpoints: the IP blocklist, live settings, emergency mode, who is an operator, and disabling
 * an account. Callable by a user with the operator role, or with the ADMIN_TOKEN bearer.
 */
import { Elysia } from "elysia";
import { type AdminActor, adminActorName } from "../lib/audit/admin-actor.ts";
import { applyAfterAudit } from "../lib/audit/audit-first.ts";
import type { AuditEvent } from "../lib/audit/audit-log.ts";
import { type Account, disableUser } from "../lib/auth/accounts.ts";
import { listOperators, setOperator } from "../lib/auth/operators.ts";
import { pathTag } from "../lib/cache/cache-tags.ts";
import { createCdnPurger } from "../lib/cache/cdn-purge.ts";
import { PurgeNotSharedError, purgeTags } from "../lib/cache/purge-tags.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { createWaitUntil } from "../lib/core/wait-until.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { canonicalBlockTarget, type IpBlock } from "../lib/guards/ip-block.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

const AddIpBlockBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    /** "203.0.113.7", "10.0.0.0/8", "2001:db8::/48"; a single IPv6 address blocks its /64. */
    target: "0 < string <= 64",
    "ttlSeconds?": "1 <= number.integer <= 31536000",
    "reason?": "0 < string <= 200",
  }),
);
/**
 * Any section of the settings, any of its fields; unknown keys are refused at every level. Its module builds
 * arktype types at import, so it is required on the first settings change.
 */
const SettingsPatchBody = lazySchema(
  () =>
    (require("../lib/settings/settings-schema.ts") as typeof import("../lib/settings/settings-schema.ts"))
      .settingsPatchSchema,
);
const EmergencyBody = lazySchema(({ type }) => type({ "+": "reject", enabled: "boolean" }));
// Bounded: one request purges at most 100 tags (the CDN takes them 16 a call).
const CachePurgeBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    "tags?": type("0 < string <= 200").array().atMostLength(100),
    "paths?": type(/^\/[^\s?#]{0,2047}$/)
      .array()
      .atMostLength(100),
  }),
);

const ADMIN_READ: UserPolicy = {
  rateLimits: [{ name: "admin-read", limit: 120, window: "1m", scope: "ip" }],
  bodyLimitBytes: 0,
  timeout: "read",
};
const ADMIN_WRITE: UserPolicy = {
  rateLimits: [{ name: "admin-write", limit: 30, window: "1m", scope: "ip" }],
  bodyLimitBytes: 16 * 1024,
  timeout: "write",
  // Two operators changing the live settings at the same moment: one is asked to try again.
  errors: ["CONFLICT"],
};

const SETTINGS_TARGET = { type: "settings", id: "live" };

const ADMIN_WRITE_NO_BODY: UserPolicy = { ...ADMIN_WRITE, bodyLimitBytes: 0 };

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
  const blocker = runtime.services.ipBlocker;
  const { settings } = runtime;
  const cdn = createCdnPurger(runtime.config.cdnPurge, runtime.logger);
  const waitUntil = createWaitUntil(runtime.logger);
  // Store-backed changes: checked, then audited, then applied (lib/audit/audit-first.ts).
  const audited = <T>(
    { actor, request }: { actor: AdminActor; request: Request },
    event: Omit<AuditEvent, "actor">,
    apply: () => Promise<T>,
  ) => applyAfterAudit({ db: runtime.db.primary, logger: runtime.logger, request }, { ...event, actor }, apply);

  return new Elysia({ name: "admin" })
    .use(policyPlugin)
    .get("/admin/ip-blocks", async () => ({ blocks: (await blocker.list()).map(present) }), { admin: ADMIN_READ })
    .post(
      "/admin/ip-blocks",
      async ({ actor, body, request, set }) => {
        const ttlMs = body.ttlSeconds === undefined ? undefined : body.ttlSeconds * 1000;
        const entry = blocker.adminBlockOf(body.target, { ttlMs, reason: body.reason }, adminActorName(actor));
        const metadata = { reason: entry.reason, expiresAt: entry.expiresAt };
        const block = await audited(
          { actor, request },
          { action: "admin.ip_block.added", target: { type: "ip", id: entry.target }, metadata },
          () => blocker.apply(entry),
        );
        set.status = 201;
        return { block: present(block) };
      },
      { admin: ADMIN_WRITE, body: AddIpBlockBody },
    )
    .delete(
      "/admin/ip-blocks/:target",
      async ({ actor, params, request }) => {
        const target = canonicalBlockTarget(params.target);
        const noBlock = () => new AppError("NOT_FOUND", "No block on this address or range.");
        if (!(await blocker.list()).some((block) => block.target === target)) throw noBlock();
        const removed = await audited(
          { actor, request },
          { action: "admin.ip_block.removed", target: { type: "ip", id: target } },
          () => blocker.remove(target, adminActorName(actor)),
        );
        if (removed === undefined) throw noBlock();
        return { removed };
      },
      { admin: ADMIN_WRITE },
    )
    .get("/admin/settings", () => ({ settings: settings.current() }), { admin: ADMIN_READ })
    .patch(
      "/admin/settings",
      async ({ actor, body, request }) => {
        await settings.check(body);
        // The version is known only once written; the row is written before, so it names the live document.
        const event = { action: "admin.settings.changed", target: SETTINGS_TARGET, metadata: { patch: body } } as const;
        return {
          settings: await audited({ actor, request }, event, () => settings.update(body, adminActorName(actor))),
        };
      },
      { admin: ADMIN_WRITE, body: SettingsPatchBody },
    )
    .post(
      "/admin/emergency",
      async ({ actor, body, request }) => {
        const patch = { emergency: { enabled: body.enabled } };
        await settings.check(patch);
        const event = {
          action: "admin.emergency.changed",
          target: SETTINGS_TARGET,
          metadata: { enabled: body.enabled },
        } as const;
        const next = await audited({ actor, request }, event, () => settings.update(patch, adminActorName(actor)));
        return { emergency: next.emergency };
      },
      { admin: ADMIN_WRITE, body: EmergencyBody },
    )
    .post(
      "/admin/cache/purge",
      async ({ actor, body, request }) => {
        const paths = [...new Set(body.paths ?? [])];
        const tags = [...new Set([...(body.tags ?? []), ...paths.map(pathTag)])];
        if (tags.length === 0 || tags.length > 100)
          throw new AppError("VALIDATION_FAILED", undefined, {
            fields: [{ path: "tags", message: "name 1 to 100 tags or paths to purge" }],
          });
        const event = {
          action: "admin.cache.purged",
          target: { type: "cache", id: paths.length > 0 ? "tags-and-paths" : "tags" },
          metadata: { tags, paths },
        } as const;
        await audited({ actor, request }, event, () =>
          purgeTags(runtime, tags).catch((error: unknown) => {
            // Only this instance's stand-in was purged: say so, rather than claim a purge the others never saw.
            if (error instanceof PurgeNotSharedError) throw new AppError("DEPENDENCY_UNAVAILABLE");
            throw error;
          }),
        );
        // The CDN is slower and retried; it never fails the request (lib/cache/cdn-purge.ts logs and counts).
        waitUntil(cdn.purgeTags(tags));
        return { purged: tags, cdn: cdn.provider };
      },
      { admin: ADMIN_WRITE, body: CachePurgeBody },
    )
    .get(
      "/admin/operators",
      async () => ({ operators: (await listOperators(runtime.db.primary)).map(presentAccount) }),
      { admin: ADMIN_READ },
    )
    .put(
      "/admin/operators/:userId",
      async ({ actor, params, request }) => {
        const account = await setOperator(runtime, params.userId, true, actor, request);
        return { operator: presentAccount(account) };
      },
      { admin: ADMIN_WRITE_NO_BODY },
    )
    .delete(
      "/admin/operators/:userId",
      async ({ actor, params, request }) => {
        const account = await setOperator(runtime, params.userId, false, actor, request);
        return { revoked: presentAccount(account) };
      },
      { admin: ADMIN_WRITE_NO_BODY },
    )
    .post(
      "/admin/users/:userId/disable",
      async ({ actor, params, request }) => {
        const { revokedSessions } = await disableUser(runtime, params.userId, actor, request);
        return { userId: params.userId, disabled: true, revokedSessions };
      },
      { admin: ADMIN_WRITE_NO_BODY },
    );
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, inArray } from "drizzle-orm";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  openTestRuntime,
  type TestRuntime,
} from "../../../test/backends.ts";
import { apiKeys, auditEvents, organizations } from "../../db/schema/index.ts";
import { findScheduledJob } from "../registry.ts";
import { runScheduledJob } from "../scheduled-job.ts";
import { flagOldApiKeys } from "./flag-old-api-keys.ts";

const DAY = 86_400_000;

describe.each(DATABASE_BACKENDS)("flag-old-api-keys on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("is registered", () => {
    expect(findScheduledJob("flag-old-api-keys")).toBe(flagOldApiKeys);
  });

  test("flags live keys older than their org's limit, once, each with an audit event", async () => {
    const db = runtime.db.primary;
    const now = Date.now();
    const ago = (days: number) => new Date(now - days * DAY);
    const [strict, lax, none] = await db
      .insert(organizations)
      .values([
        { name: "30 days", apiKeyMaxAgeDays: 30 },
        { name: "365 days", apiKeyMaxAgeDays: 365 },
        { name: "no policy" },
      ])
      .returning({ id: organizations.id });
    if (strict === undefined || lax === undefined || none === undefined) throw new Error("organizations missing");
    const key = (orgId: string, name: string, createdAt: Date, extra: Partial<typeof apiKeys.$inferInsert> = {}) => ({
      orgId,
      name,
      keyHash: crypto.randomUUID(),
      visiblePrefix: "rk_test00",
      scopes: ["orgs:read"],
      createdAt,
      ...extra,
    });
    const rows = await db
      .insert(apiKeys)
      .values([
        key(strict.id, "old", ago(40)),
        key(strict.id, "young", ago(10)),
        key(strict.id, "old but revoked", ago(40), { revokedAt: ago(1) }),
        key(strict.id, "old but expired", ago(40), { expiresAt: ago(1) }),
        key(strict.id, "old, expiring later", ago(40), { expiresAt: new Date(now + DAY) }),
        key(strict.id, "old but already flagged", ago(40), { flaggedAt: ago(2) }),
        key(lax.id, "old for others, young here", ago(40)),
        key(none.id, "ancient without a policy", ago(4_000)),
      ])
      .returning({ id: apiKeys.id, name: apiKeys.name });
    const idOf = (name: string) => rows.find((row) => row.name === name)?.id ?? "";

    const outcome = await runScheduledJob(runtime, flagOldApiKeys, new Date(now));
    expect(outcome).toEqual({ status: "succeeded", detail: "flagged 2 API keys" });
    const flagged = await db
      .select({ name: apiKeys.name, flaggedAt: apiKeys.flaggedAt })
      .from(apiKeys)
      .where(
        inArray(
          apiKeys.id,
          rows.map((row) => row.id),
        ),
      );
    expect(
      flagged
        .filter((row) => row.flaggedAt !== null)
        .map((row) => row.name)
        .sort(),
    ).toEqual(["old", "old but already flagged", "old, expiring later"]);

    const events = await db
      .select()
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.action, "api_key.flagged"),
          inArray(
            auditEvents.targetId,
            rows.map((row) => row.id),
          ),
        ),
      );
    expect(events.map((event) => event.targetId).sort()).toEqual([idOf("old"), idOf("old, expiring later")].sort());
    expect(events[0]).toMatchObject({
      actorType: "system",
      actorId: "flag-old-api-keys",
      orgId: strict.id,
      targetType: "api_key",
      metadata: { ageDays: 40, maxAgeDays: 30 },
    });

    // The next run has nothing left to flag.
    expect(await runScheduledJob(runtime, flagOldApiKeys, new Date(now + 60_000))).toEqual({
      status: "succeeded",
      detail: "flagged 0 API keys",
    });
  });

  test("works through more keys than one batch", async () => {
    const db = runtime.db.primary;
    const [org] = await db
      .insert(organizations)
      .values({ name: "many", apiKeyMaxAgeDays: 1 })
      .returning({ id: organizations.id });
    if (org === undefined) throw new Error("organization missing");
    const old = new Date(Date.now() - 2 * DAY);
    await db.insert(apiKeys).values(
      Array.from({ length: 1_203 }, (_, i) => ({
        orgId: org.id,
        name: `k${i}`,
        keyHash: crypto.randomUUID(),
        visiblePrefix: "rk_test00",
        scopes: [],
        createdAt: old,
      })),
    );
    const outcome = await runScheduledJob(runtime, flagOldApiKeys, new Date(Date.now() + 120_000));
    expect(outcome).toEqual({ status: "succeeded", detail: "flagged 1203 API keys" });
    const events = await db
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "api_key.flagged"), eq(auditEvents.orgId, org.id)));
    expect(events).toHaveLength(1_203);
  });
});

/**
 * POST /admin/cache/purge: audited first (no row, no purge), then the store's tags and, in the background,
 * the CDN's, against a loopback stand-in for Vercel's invalidate-by-tags API.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { cdnTag } from "../lib/cache/cdn-headers.ts";
import { auditEvents, organizations } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { ADMIN_TOKEN, type IdentityTestApp, openIdentityTestApp, type TestUser } from "../test/identity-client.ts";
import admin from "./admin.ts";
import orgs from "./orgs.ts";

const PATH = "/v1/edge-cache/invalidate-by-tags";
const VERCEL_TOKEN = "vercel-token-0123456789abcdef";
const received: string[][] = [];
const standIn = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request) {
    if (request.headers.get("authorization") !== `Bearer ${VERCEL_TOKEN}`) return new Response(null, { status: 403 });
    received.push(((await request.json()) as { tags: string[] }).tags);
    return Response.json({});
  },
});

describe("POST /admin/cache/purge", () => {
  let rig: IdentityTestApp;
  let app: RampartApp;
  let owner: TestUser;
  let orgId: string;
  beforeAll(async () => {
    rig = await openIdentityTestApp("pglite", "memory", {
      CDN_PURGE_PROVIDER: "vercel",
      VERCEL_API_TOKEN: VERCEL_TOKEN,
      VERCEL_PROJECT_ID: "prj_rampart",
      CDN_PURGE_URL: `http://127.0.0.1:${standIn.port}${PATH}`,
    });
    app = buildApp(rig.runtime, [orgs, admin]);
    owner = await rig.client.createUser();
    orgId = await rig.client.createOrg(owner, "Acme");
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    standIn.stop(true);
    await rig.runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  const readOrg = async () => {
    const response = await app.fetch(
      new Request(`http://localhost/v1/orgs/${orgId}`, {
        headers: { authorization: `Bearer ${owner.token}`, "x-forwarded-for": "10.6.6.6" },
      }),
    );
    return { cache: response.headers.get("x-cache"), name: ((await response.json()) as { name: string }).name };
  };
  const purge = (body: unknown, token = ADMIN_TOKEN) =>
    app.fetch(
      new Request("http://localhost/admin/cache/purge", {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "x-forwarded-for": "10.6.6.7",
        },
        body: JSON.stringify(body),
      }),
    );
  const purgeRows = async () =>
    (await rig.runtime.db.primary.select().from(auditEvents).where(eq(auditEvents.action, "admin.cache.purged")))
      .length;

  test("purges the store's entries under the tags, records who did, and purges the CDN's", async () => {
    await readOrg();
    expect(await readOrg()).toEqual({ cache: "HIT", name: "Acme" });
    // A change made behind the app's back (a manual fix, say): only a purge makes it visible.
    await rig.runtime.db.primary.update(organizations).set({ name: "Fixed" }).where(eq(organizations.id, orgId));
    expect((await readOrg()).name).toBe("Acme");
    const tags = [`org:${orgId}`, `org:${orgId}`, "status"];
    const response = await purge({ tags });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ purged: [`org:${orgId}`, "status"], cdn: "vercel" });
    expect(await readOrg()).toEqual({ cache: "MISS", name: "Fixed" });
    expect(await purgeRows()).toBe(1);
    // The CDN is called in the background: wait for its request (bounded), not for a clock.
    for (let i = 0; i < 200 && received.length === 0; i++) await Bun.sleep(10);
    expect(received).toEqual([[cdnTag(`org:${orgId}`), cdnTag("status")]]);
  }, 30_000);

  test("with its audit row refused by the database, nothing is purged: 5xx and the entry still a HIT", async () => {
    await readOrg();
    expect((await readOrg()).cache).toBe("HIT");
    received.length = 0;
    const rowsBefore = await purgeRows();
    const db = rig.runtime.db.primary;
    await db.execute(sql`create or replace function refuse_audit() returns trigger language plpgsql as
      $$ begin raise exception 'audit refused'; end $$`);
    await db.execute(sql`create trigger refuse_audit before insert on audit_events
      for each row execute function refuse_audit()`);
    try {
      expect((await purge({ tags: [`org:${orgId}`] })).status).toBeGreaterThanOrEqual(500);
    } finally {
      await db.execute(sql`drop trigger refuse_audit on audit_events`);
    }
    expect((await readOrg()).cache).toBe("HIT");
    expect(await purgeRows()).toBe(rowsBefore);
    await Bun.sleep(50);
    expect(received).toEqual([]);
  }, 30_000);

  test("a path purges what that URL answers, for every caller, and the CDN's copy of it", async () => {
    await readOrg();
    expect((await readOrg()).cache).toBe("HIT");
    await rig.runtime.db.primary.update(organizations).set({ name: "By path" }).where(eq(organizations.id, orgId));
    received.length = 0;
    const path = `/v1/orgs/${orgId}`;
    const response = await purge({ paths: [path, path] });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ purged: [`path:${path}`], cdn: "vercel" });
    expect(await readOrg()).toEqual({ cache: "MISS", name: "By path" });
    for (let i = 0; i < 200 && received.length === 0; i++) await Bun.sleep(10);
    expect(received).toEqual([[cdnTag(`path:${path}`)]]);
  }, 30_000);

  test("no tags or paths, too many, bad paths or unknown fields are 422; a wrong token is 401", async () => {
    for (const body of [
      {},
      { tags: [] },
      { tags: [], paths: [] },
      { tags: Array.from({ length: 101 }, (_, i) => `t${i}`) },
      { tags: Array.from({ length: 60 }, (_, i) => `t${i}`), paths: Array.from({ length: 60 }, (_, i) => `/p${i}`) },
      { paths: ["v1/orgs"] },
      { paths: ["/v1/orgs?x=1"] },
      { paths: ["/with space"] },
      { tags: ["a"], x: 1 },
    ])
      expect({ body, status: (await purge(body)).status }).toEqual({ body, status: 422 });
    expect((await purge({ tags: ["a"] }, "wrong-token-0123456789-0123456789-abcdef")).status).toBe(401);
  }, 30_000);
});

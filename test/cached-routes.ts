/** Cached test routes over the organizations table (lib/cache/), counting how often their handlers run. */
import { eq } from "drizzle-orm";
import { Elysia } from "elysia";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import type { Database } from "../lib/db/database.ts";
import { organizations } from "../lib/db/schema/index.ts";
import type { RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

export const TTL_MS = 30_000;
export const ADAPTIVE_TTL = { min: "500ms", max: "5m" } as const;
const PRIVATE_POLICY: UserPolicy = {
  body: "none",
  cache: { scope: "private", ttl: "30s", tags: ({ orgId }) => [`org:${orgId}`] },
};

/** `gate.opened` holds the public route's handler until the test opens it. */
export function cachedRoutes(runs: Map<string, number>, gate: { opened: Promise<void> }) {
  const count = (route: string) => runs.set(route, (runs.get(route) ?? 0) + 1);
  return defineRouteGroup("cached", (runtime) => {
    const nameOf = async (id: string) =>
      (await runtime.db.primary.select().from(organizations).where(eq(organizations.id, id)))[0]?.name ?? null;
    return new Elysia({ name: "cached" })
      .use(policyPlugin)
      .get(
        "/cached/public/:orgId",
        async ({ params }) => {
          count("public");
          await gate.opened;
          return { name: await nameOf(params.orgId) };
        },
        {
          public: {
            body: "none",
            rateLimits: [],
            cache: {
              scope: "public",
              ttl: "30s",
              staleWhileRevalidate: "1m",
              staleIfError: "10m",
              tags: ({ params }) => [`org:${params.orgId}`],
              vary: ["accept-language"],
            },
          },
        },
      )
      .get(
        "/cached/orgs/:orgId/name",
        async ({ org }) => {
          count("private");
          return { name: await nameOf(org.id) };
        },
        {
          user: PRIVATE_POLICY,
          org: "orgId",
        },
      )
      .get(
        "/cached/large/:orgId",
        async ({ params }) => {
          count("large");
          return { name: await nameOf(params.orgId), filler: "x".repeat(4096) };
        },
        {
          public: {
            body: "none",
            rateLimits: [],
            cache: {
              scope: "public",
              ttl: "30s",
              staleWhileRevalidate: "1m",
              staleIfError: "10m",
              tags: ({ params }) => [`org:${params.orgId}`, "orgs"],
            },
          },
        },
      )
      .get(
        "/cached/adaptive/:orgId",
        async ({ params }) => {
          count("adaptive");
          return { name: await nameOf(params.orgId) };
        },
        {
          public: {
            body: "none",
            rateLimits: [],
            cache: { scope: "public", ttl: ADAPTIVE_TTL, tags: ({ params }) => [`org:${params.orgId}`] },
          },
        },
      )
      .get(
        "/cached/cookie",
        ({ set }) => {
          count("cookie");
          set.headers["set-cookie"] = "session=1";
          return { ok: true };
        },
        { public: { body: "none", rateLimits: [], cache: { scope: "public", ttl: "30s" } } },
      );
  });
}

export async function insertOrg(db: Database, name: string): Promise<string> {
  const [row] = await db.primary.insert(organizations).values({ name }).returning({ id: organizations.id });
  return (row as { id: string }).id;
}

export const get = (app: RampartApp, path: string, headers: Record<string, string> = {}) =>
  app.fetch(new Request(`http://localhost${path}`, { headers: { "x-forwarded-for": "10.9.9.9", ...headers } }));

export async function read(response: Response): Promise<{ status: number; cache: string | null; body: unknown }> {
  const text = await response.text();
  return { status: response.status, cache: response.headers.get("x-cache"), body: text === "" ? "" : JSON.parse(text) };
}

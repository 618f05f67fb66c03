/**
 * The security suite every route gets without writing anything (after Unkey's `runCommonRouteTests`): it
 * is generated from the app's route table, each route by its resolved policy, so a new route in functions/
 * is covered the moment it exists. What a route's policy cannot say yet (the org role a handler requires,
 * a body that passes validation so the handler's checks are reached) is kept in the two tables below.
 */
import { describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { ACCESS_TOKEN_TYPE } from "../lib/auth/access-tokens.ts";
import { createApiKeyFormat } from "../lib/auth/api-key-format.ts";
import { createApiKey, revokeApiKey } from "../lib/auth/api-keys.ts";
import { SIGNING_ALGORITHM } from "../lib/auth/signing-keys.ts";
import { API_KEY_SCOPES, type ApiKeyScope } from "../lib/core/api-key-scopes.ts";
import type { OrgRole } from "../lib/core/org-roles.ts";
import { DEFAULT_AUTH_FAILURE_LIMIT } from "../lib/guards/auth-failure-limit.ts";
import type { RampartApp } from "../lib/http/app.ts";
import { buildApp } from "../lib/http/app.ts";
import type { RouteGroup } from "../lib/http/route-group.ts";
import type { RouteEntry } from "../lib/http/route-table.ts";
import { loadRouteGroups } from "../tools/route-groups.ts";
import { type DatabaseBackend, openTestRuntime, type StoreBackend, type TestRuntime } from "./backends.ts";
import { type CountedRuntime, withCountedQueries } from "./counting-db.ts";
import { ADMIN_TOKEN, identityClient, type TestUser } from "./identity-client.ts";

export const CRON_SECRET = "cron-secret-0123456789abcdef";

/** A body that passes a route's schema: its role and tenant checks run in the handler, after validation. */
export const SAMPLE_BODIES: Readonly<Record<string, () => unknown>> = {
  "PATCH /v1/orgs/:orgId": () => ({ name: "Renamed by the security suite" }),
  "POST /v1/orgs/:orgId/members": () => ({ userId: crypto.randomUUID(), role: "member" }),
  "PATCH /v1/orgs/:orgId/members/:userId": () => ({ role: "member" }),
  "POST /v1/orgs/:orgId/keys": () => ({ name: "suite", scopes: ["orgs:read"] }),
  "PATCH /v1/orgs/:orgId/keys/:keyId": () => ({ enabled: true }),
  "PUT /v1/orgs/:orgId/identities/:externalId": () => ({ meta: { plan: "suite" } }),
  "POST /v1/keys/verify": () => ({ key: "rk_not_a_key" }),
};

const ROLE_RANK: Readonly<Record<OrgRole, number>> = { member: 1, admin: 2, owner: 3 };

/** The least org role a user needs on the route: its tenant binding declares it. */
export const requiredOrgRoleOf = (route: RouteEntry): OrgRole | undefined => route.policy.org?.role;

export const isOrgScoped = (route: RouteEntry) => route.path.includes(":orgId");
const acceptsKeys = (route: RouteEntry) => route.policy.access === "user-or-key" || route.policy.access === "key";
const acceptsUsers = (route: RouteEntry) => route.policy.access === "user" || route.policy.access === "user-or-key";

export interface RouteSecurityFixture {
  runtime: TestRuntime;
  app: RampartApp;
  /** Queries started on the app's database, to show a refusal came before any lookup. */
  counted: CountedRuntime<TestRuntime>;
  org: string;
  owner: TestUser;
  /** Holds `member`, the lowest role, in `org`. */
  member: TestUser;
  /** Belongs to no organization. */
  outsider: TestUser;
  /** Of another organization, holding every scope. */
  otherOrgKey: string;
  /** Of `org`, holding every scope; refused by routes for signed-in users only. */
  fullKey: string;
  /** Of `org`, holding each scope but one route's: made on demand. */
  keyWithout(scopes: readonly string[]): Promise<string>;
  revokedKey: string;
  expiredToken: string;
  close(): Promise<void>;
}

/** One runtime and one app with every route group in functions/ and `extraGroups`, and the callers the suite needs. */
export async function openRouteSecurityFixture(
  database: DatabaseBackend = "pglite",
  store: StoreBackend = "memory",
  extraGroups: readonly RouteGroup[] = [],
): Promise<RouteSecurityFixture> {
  const runtime = await openTestRuntime({ database, store, env: { TRUST_PROXY: "1", ADMIN_TOKEN, CRON_SECRET } });
  const counted = withCountedQueries(runtime);
  const app = buildApp(counted.runtime, [...(await loadRouteGroups()), ...extraGroups]);
  const client = identityClient(counted.runtime as TestRuntime, app);
  const [owner, member, outsider, otherOwner] = [
    await client.createUser(),
    await client.createUser(),
    await client.createUser(),
    await client.createUser(),
  ];
  const org = await client.createOrg(owner, "Tenant A");
  const otherOrg = await client.createOrg(otherOwner, "Tenant B");
  await client.addMember(owner, org, member, "member");
  const issue = async (orgId: string, by: TestUser, scopes: ApiKeyScope[]) =>
    (await createApiKey(runtime, { type: "user", id: by.userId }, orgId, { name: "suite", scopes })).key;
  const revoked = await createApiKey(runtime, { type: "user", id: owner.userId }, org, {
    name: "revoked",
    scopes: [...API_KEY_SCOPES],
  });
  await revokeApiKey(runtime, { type: "user", id: owner.userId }, org, revoked.id);
  const keysWithout = new Map<string, Promise<string>>();
  return {
    runtime,
    app,
    counted,
    org,
    owner,
    member,
    outsider,
    otherOrgKey: await issue(otherOrg, otherOwner, [...API_KEY_SCOPES]),
    fullKey: await issue(org, owner, [...API_KEY_SCOPES]),
    keyWithout(scopes) {
      const held = API_KEY_SCOPES.filter((scope) => !scopes.includes(scope));
      const name = held.join(",");
      if (!keysWithout.has(name)) keysWithout.set(name, issue(org, owner, held));
      return keysWithout.get(name) as Promise<string>;
    },
    revokedKey: revoked.key,
    expiredToken: await expiredAccessToken(counted.runtime, owner.userId),
    close: () => runtime.close(),
  };
}

/** A token signed by the app's own key whose lifetime ended an hour ago, past any clock skew. */
async function expiredAccessToken(runtime: TestRuntime, userId: string): Promise<string> {
  const { signingKid, signingKey } = await runtime.services.identity.keyRing.get();
  if (signingKey === undefined) throw new Error("no signing key");
  const { auth } = runtime.config;
  const expired = Math.floor(Date.now() / 1000) - 3_600;
  return new SignJWT({ sid: crypto.randomUUID() })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: signingKid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setSubject(userId)
    .setIssuedAt(expired - auth.accessTokenTtlSeconds)
    .setExpirationTime(expired)
    .setJti(crypto.randomUUID())
    .sign(signingKey);
}

// A random IPv6 /64 (the unit addresses are counted by): a Redis kept from an earlier run holds no budget for it.
const hex16 = () => Math.floor(Math.random() * 0x10000).toString(16);
const freshIp = () => `fd00:${hex16()}:${hex16()}:${hex16()}::1`;

/** The route's path with `:orgId` as the fixture's organization and every other parameter a fresh uuid. */
export function concretePath(route: RouteEntry, org: string): string {
  return route.path.replace(/:([A-Za-z]+)/g, (_, name: string) => (name === "orgId" ? org : crypto.randomUUID()));
}

const HEADERS = {
  "strict-transport-security": /^max-age=\d+/,
  "x-content-type-options": /^nosniff$/,
  "x-frame-options": /^DENY$/,
  "x-request-id": /^[A-Za-z0-9._:-]{8,128}$/,
} as const;

/** The headers every answer carries, errors included; an error is never cached. */
export function expectSecurityHeaders(route: RouteEntry, response: Response): void {
  const seen = Object.fromEntries(
    [...Object.keys(HEADERS), "content-security-policy", "cache-control"].map((name) => [
      name,
      response.headers.get(name),
    ]),
  );
  const csp = route.policy.headers["content-security-policy"] ?? "default-src 'none'; frame-ancestors 'none'";
  const cache = response.status >= 400 ? "no-store" : route.policy.cache;
  expect({ status: response.status, headers: seen }).toEqual({
    status: response.status,
    headers: {
      ...Object.fromEntries(Object.entries(HEADERS).map(([name, pattern]) => [name, expect.stringMatching(pattern)])),
      "content-security-policy": csp,
      "cache-control": cache,
    },
  });
}

interface Call {
  authorization?: string;
  ip?: string;
  body?: unknown;
  path?: string;
}

/**
 * The common tests for each route, one describe per route. `fixture` is read when the tests run; the
 * routes are needed when they are collected.
 */
export function describeCommonRouteSecurity(
  label: string,
  routes: readonly RouteEntry[],
  fixture: () => RouteSecurityFixture,
): void {
  const budget = DEFAULT_AUTH_FAILURE_LIMIT.limit;
  for (const route of routes) {
    describe(`${label}: ${route.key} (${route.policy.access})`, () => {
      const call = async ({ authorization, ip = freshIp(), body, path }: Call = {}): Promise<Response> => {
        const { app, org } = fixture();
        const headers: Record<string, string> = { "x-forwarded-for": ip };
        if (authorization !== undefined) headers.authorization = authorization;
        if (body !== undefined) headers["content-type"] = "application/json";
        const url = `http://localhost${path ?? concretePath(route, org)}`;
        const response = await app.fetch(
          new Request(url, {
            method: route.method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
          }),
        );
        expectSecurityHeaders(route, response);
        return response;
      };
      const codeOf = async (response: Response) => ({
        status: response.status,
        code: ((await response.json()) as { error?: { code: string } }).error?.code,
      });
      const refused = async (authorization: string | undefined, status: number, code: string) =>
        expect({ authorization, answer: await codeOf(await call({ authorization })) }).toEqual({
          authorization,
          answer: { status, code },
        });
      const bodyFor = (): unknown => SAMPLE_BODIES[route.key]?.() ?? (route.policy.bodyLimitBytes > 0 ? {} : undefined);
      const access = route.policy.access;

      if (access === "public") {
        test("a public route answers without credentials, with the security headers", async () => {
          const response = await call({ body: bodyFor() });
          expect(response.status).toBeLessThan(500);
        });
        return;
      }

      test("no credentials: 401, with the security headers and no-store", () =>
        refused(undefined, 401, "UNAUTHORIZED"));

      test("a malformed Authorization header: 401", async () => {
        for (const authorization of [
          "Bearer",
          "Bearer ",
          "Basic dXNlcjpwYXNz",
          "Token abc",
          "Bearer a b c",
          `Bearer ${"x".repeat(5_000)}`,
        ]) {
          await refused(authorization, 401, "UNAUTHORIZED");
        }
      });

      test("an unknown, mistyped or revoked API key: 401", async () => {
        const { revokedKey, runtime } = fixture();
        const unknown = createApiKeyFormat(runtime.config.auth.apiKeyPrefix).generate().key;
        const mistyped = `${revokedKey.slice(0, -1)}${revokedKey.endsWith("A") ? "B" : "A"}`;
        for (const key of [unknown, mistyped, revokedKey]) await refused(`Bearer ${key}`, 401, "UNAUTHORIZED");
      });

      test("an expired, forged or garbage access token: 401", async () => {
        const { expiredToken, owner } = fixture();
        for (const token of [expiredToken, `${owner.token.slice(0, -4)}AAAA`, "not.a.jwt", "eyJhbGciOiJub25lIn0.e30."])
          await refused(`Bearer ${token}`, 401, "UNAUTHORIZED");
      });

      if (acceptsKeys(route) && route.policy.scopes.length > 0) {
        test(`an API key without ${route.policy.scopes.join(", ")}: 403`, async () => {
          await refused(`Bearer ${await fixture().keyWithout(route.policy.scopes)}`, 403, "FORBIDDEN");
        });
      } else if (access === "user") {
        test("an API key holding every scope, on a route for signed-in users only: 403", () =>
          refused(`Bearer ${fixture().fullKey}`, 403, "FORBIDDEN"));
      }
      if (access === "key") {
        test("a signed-in owner's access token, on a route for API keys only: 403", () =>
          refused(`Bearer ${fixture().owner.token}`, 403, "FORBIDDEN"));
      } else if (access === "admin" || access === "cron") {
        test("an API key holding every scope: 401", () => refused(`Bearer ${fixture().fullKey}`, 401, "UNAUTHORIZED"));
      }

      if (access === "admin") {
        test("a signed-in user who is not an operator: 403", () =>
          refused(`Bearer ${fixture().owner.token}`, 403, "FORBIDDEN"));
      } else if (access === "cron") {
        test("a signed-in user's access token: 401", () =>
          refused(`Bearer ${fixture().owner.token}`, 401, "UNAUTHORIZED"));
      }

      const role = requiredOrgRoleOf(route);
      if (acceptsUsers(route) && isOrgScoped(route) && role !== undefined && ROLE_RANK[role] > ROLE_RANK.member) {
        test(`a member of the organization without the ${role} role: 403`, async () => {
          const answer = await codeOf(
            await call({ authorization: `Bearer ${fixture().member.token}`, body: bodyFor() }),
          );
          expect({ hint: "a 422 means SAMPLE_BODIES needs this route", answer }).toEqual({
            hint: "a 422 means SAMPLE_BODIES needs this route",
            answer: { status: 403, code: "FORBIDDEN" },
          });
        });
      }

      if (isOrgScoped(route) && (acceptsUsers(route) || acceptsKeys(route))) {
        const notFound = { status: 404, code: "NOT_FOUND" };
        const sameAsMissing = async (authorization: string) => {
          const missing = concretePath(route, crypto.randomUUID());
          const answers = {
            theirs: await codeOf(await call({ authorization, body: bodyFor() })),
            missing: await codeOf(await call({ authorization, body: bodyFor(), path: missing })),
          };
          expect({ hint: "a 422 means SAMPLE_BODIES needs this route", answers }).toEqual({
            hint: "a 422 means SAMPLE_BODIES needs this route",
            answers: { theirs: notFound, missing: notFound },
          });
        };
        if (acceptsKeys(route))
          test("another organization's key holding every scope: 404, as for a missing organization", () =>
            sameAsMissing(`Bearer ${fixture().otherOrgKey}`));
        if (acceptsUsers(route))
          test("a signed-in user of no organization: 404, as for a missing organization", () =>
            sameAsMissing(`Bearer ${fixture().outsider.token}`));
      }

      test(`${budget} wrong credentials from one address, then 429 before any lookup`, async () => {
        const ip = freshIp();
        const { runtime, counted } = fixture();
        // Admin and cron routes take a secret; the others are guessed at with API keys, each a lookup.
        const wrong = () =>
          access === "admin" || access === "cron"
            ? `Bearer wrong-secret-${crypto.randomUUID()}`
            : `Bearer ${createApiKeyFormat(runtime.config.auth.apiKeyPrefix).generate().key}`;
        const statuses: number[] = [];
        // The budget is a sliding window: a run that straddles a window edge has its earlier part weighted
        // down (rounded down, as @upstash/ratelimit does), so one more guess may pass before the 429.
        while (statuses.at(-1) !== 429 && statuses.length <= budget + 1)
          statuses.push((await call({ authorization: wrong(), ip })).status);
        const refusedFirst = statuses.indexOf(429);
        expect({
          statuses,
          refusedAfter: [budget, budget + 1].includes(refusedFirst),
          before: new Set(statuses.slice(0, refusedFirst)),
        }).toMatchObject({ refusedAfter: true, before: new Set([401]) });
        counted.reset();
        const response = await call({ authorization: wrong(), ip });
        expect({
          status: response.status,
          retryAfter: response.headers.get("retry-after") !== null,
          queries: counted.queries(),
        }).toEqual({ status: 429, retryAfter: true, queries: 0 });
      });
    });
  }
}

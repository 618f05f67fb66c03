import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditEvents, users } from "../lib/db/schema/index.ts";
import { DEFAULT_AUTH_FAILURE_LIMIT } from "../lib/guards/auth-failure-limit.ts";
import { buildApp } from "../lib/http/app.ts";
import { deriveRuntime } from "../lib/runtime/runtime.ts";
import type { Settings } from "../lib/settings/settings.ts";
import type { TestRuntime } from "../test/backends.ts";
import { DATABASE_BACKENDS, openTestRuntime } from "../test/backends.ts";
import { withCountedQueries } from "../test/counting-db.ts";
import {
  ADMIN_TOKEN,
  type ErrorBody,
  type IdentityClient,
  identityClient,
  type TestUser,
} from "../test/identity-client.ts";
import admin from "./admin.ts";
import keys from "./keys.ts";
import orgs from "./orgs.ts";

// Opening PGlite and migrating it takes a few seconds on a loaded machine.
const OPEN_TIMEOUT_MS = 30_000;

describe.each(DATABASE_BACKENDS)("operators on %s", (backend) => {
  let runtime: TestRuntime;
  let client: IdentityClient;
  let tokenless: IdentityClient;
  let tokenlessRuntime: TestRuntime;

  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend, env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
    client = identityClient(runtime, buildApp(runtime, [admin, orgs, keys]));
    // The same database without ADMIN_TOKEN: operators must not depend on it.
    tokenlessRuntime = await openTestRuntime({ database: backend, env: { TRUST_PROXY: "1" } });
    tokenless = identityClient(runtime, buildApp(deriveRuntime(tokenlessRuntime, { db: runtime.db }), [admin]));
  }, OPEN_TIMEOUT_MS);
  afterAll(async () => {
    await tokenlessRuntime.close();
    await runtime.close();
  });

  const grant = async (user: TestUser, token = ADMIN_TOKEN) =>
    client.call("PUT", `/admin/operators/${user.userId}`, { token });
  const readSettings = (c: IdentityClient, token: string) => c.call("GET", "/admin/settings", { token });

  const randomIp = () => `198.18.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

  test(
    "a signed-in user without the role gets 403 on every admin route; with " +
      "it, 200, and the change is theirs in the audit trail",
    async () => {
      const user = await client.createUser();
      const adminRoutes = [
        ["GET", "/admin/settings"],
        ["PATCH", "/admin/settings", { blocking: { threshold: 5 } }],
        ["POST", "/admin/emergency", { enabled: true }],
        ["GET", "/admin/ip-blocks"],
        ["POST", "/admin/ip-blocks", { target: randomIp() }],
        ["DELETE", `/admin/ip-blocks/${randomIp()}`],
        ["GET", "/admin/operators"],
        ["PUT", `/admin/operators/${user.userId}`],
        ["DELETE", `/admin/operators/${user.userId}`],
        ["POST", `/admin/users/${user.userId}/disable`],
      ] as const;
      for (const [method, path, body] of adminRoutes) {
        const refused = await client.call(method, path, { token: user.token, body });
        expect({
          method,
          path,
          status: refused.status,
          code: ((await refused.json()) as ErrorBody).error.code,
        }).toEqual({
          method,
          path,
          status: 403,
          code: "FORBIDDEN",
        });
      }

      const granted = await grant(user);
      expect(await client.expectJson(granted, 200)).toEqual({
        operator: { id: user.userId, email: user.email, createdAt: expect.any(String) },
      });
      await client.expectJson(await readSettings(client, user.token), 200);
      const changed = await client.expectJson<{ settings: Settings }>(
        await client.call("PATCH", "/admin/settings", { token: user.token, body: { blocking: { threshold: 77 } } }),
        200,
      );
      expect(changed.settings.blocking.threshold).toBe(77);

      const rows = await runtime.db.primary
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "admin.settings.changed"), eq(auditEvents.actorId, user.userId)));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ actorType: "user", actorId: user.userId });
      // Naming an operator again changes nothing and writes no second audit row.
      await client.expectJson(await grant(user), 200);
      const grants = await runtime.db.primary
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "admin.operator.granted"), eq(auditEvents.targetId, user.userId)));
      expect(grants).toHaveLength(1);
      expect(grants[0]).toMatchObject({ actorType: "admin", actorId: "admin" });
    },
  );

  test("an operator can name another operator and list them; the list shows no password hash", async () => {
    const [first, second] = [await client.createUser(), await client.createUser()];
    await client.expectJson(await grant(first), 200);
    await client.expectJson(await grant(second, first.token), 200);
    const listed = await client.expectJson<{ operators: Record<string, unknown>[] }>(
      await client.call("GET", "/admin/operators", { token: second.token }),
      200,
    );
    expect(listed.operators.map((o) => o.id)).toEqual(expect.arrayContaining([first.userId, second.userId]));
    for (const operator of listed.operators) expect(Object.keys(operator).sort()).toEqual(["createdAt", "email", "id"]);
  });

  test(
    "revoking the role takes effect on the operator's very next call, " + "though their access token is still valid",
    async () => {
      const user = await client.createUser();
      await client.expectJson(await grant(user), 200);
      await client.expectJson(await readSettings(client, user.token), 200);
      await client.expectJson(
        await client.call("DELETE", `/admin/operators/${user.userId}`, { token: ADMIN_TOKEN }),
        200,
      );
      expect((await readSettings(client, user.token)).status).toBe(403);
      expect((await client.call("DELETE", `/admin/operators/${user.userId}`, { token: ADMIN_TOKEN })).status).toBe(404);
    },
  );

  test("a disabled operator is refused at once (401), and cannot be named operator again", async () => {
    const [operator, other] = [await client.createUser(), await client.createUser()];
    await client.expectJson(await grant(operator), 200);
    const disabled = await client.expectJson<{ revokedSessions: number }>(
      await client.call("POST", `/admin/users/${other.userId}/disable`, { token: operator.token }),
      200,
    );
    expect(disabled).toMatchObject({ userId: other.userId, disabled: true });
    expect((await client.call("GET", "/v1/orgs", { token: other.token })).status).toBe(401);

    await client.expectJson(
      await client.call("POST", `/admin/users/${operator.userId}/disable`, { token: ADMIN_TOKEN }),
      200,
    );
    expect((await readSettings(client, operator.token)).status).toBe(401);
    expect((await grant(operator)).status).toBe(404);
    const listed = await client.expectJson<{ operators: { id: string }[] }>(
      await client.call("GET", "/admin/operators", { token: ADMIN_TOKEN }),
      200,
    );
    expect(listed.operators.map((o) => o.id)).not.toContain(operator.userId);
    // Its role can still be taken away.
    await client.expectJson(
      await client.call("DELETE", `/admin/operators/${operator.userId}`, { token: ADMIN_TOKEN }),
      200,
    );
  });

  test("the database itself refuses a platform role other than user and operator", async () => {
    const user = await client.createUser();
    const widen = runtime.db.primary
      .update(users)
      .set({ platformRole: "root" as "operator" })
      .where(eq(users.id, user.userId));
    expect(
      await widen.then(
        () => "accepted",
        () => "refused",
      ),
    ).toBe("refused");
  });

  test("unknown and malformed user ids are 404, never 500", async () => {
    for (const id of [crypto.randomUUID(), "not-a-uuid", "%27%3B--"]) {
      for (const [method, path] of [
        ["PUT", `/admin/operators/${id}`],
        ["DELETE", `/admin/operators/${id}`],
        ["POST", `/admin/users/${id}/disable`],
      ] as const) {
        const response = await client.call(method, path, { token: ADMIN_TOKEN });
        expect({ path, status: response.status }).toEqual({ path, status: 404 });
      }
    }
  });

  test(
    "an operator's token works without ADMIN_TOKEN configured; an API key, " +
      "a forged token or a non-operator never does",
    async () => {
      const [operator, owner] = [await client.createUser(), await client.createUser()];
      await client.expectJson(await grant(operator), 200);
      await tokenless.expectJson(await readSettings(tokenless, operator.token), 200);

      const orgId = await client.createOrg(owner);
      const key = await client.issueKey(owner, orgId, { scopes: ["orgs:read", "audit:read"] });
      const [header, payload] = operator.token.split(".");
      const forged = `${header}.${payload}.${"A".repeat(86)}`;
      for (const token of [key.key, forged, ADMIN_TOKEN, owner.token.slice(0, -2)]) {
        expect((await readSettings(tokenless, token)).status).toBe(401);
      }
      expect((await readSettings(tokenless, owner.token)).status).toBe(403);
    },
  );
  test(
    "a non-operator gets no further from a blocked address (IP_BLOCKED), " +
      "then 429 past the budget, costing one role lookup every few seconds however they call; operators and " +
      "ADMIN_TOKEN still get in",
    async () => {
      const [user, operator] = [await client.createUser(), await client.createUser()];
      await client.expectJson(await grant(operator), 200);
      const counted = withCountedQueries(runtime);
      const countedClient = identityClient(counted.runtime, buildApp(counted.runtime, [admin]));
      const ip = randomIp();
      await countedClient.expectJson(
        await countedClient.call("POST", "/admin/ip-blocks", { token: ADMIN_TOKEN, body: { target: ip } }),
        201,
      );
      // An operator may have to lift a block that covers them.
      await countedClient.expectJson(
        await countedClient.call("GET", "/admin/settings", { token: operator.token, ip }),
        200,
      );

      counted.reset();
      const burst = await Promise.all(
        Array.from({ length: 20 }, () => countedClient.call("GET", "/admin/settings", { token: user.token, ip })),
      );
      expect(counted.queries()).toBe(1);
      const codes = await Promise.all(burst.map(async (r) => ((await r.json()) as ErrorBody).error.code));
      expect(codes).toEqual(Array<string>(20).fill("IP_BLOCKED"));
      const limit = DEFAULT_AUTH_FAILURE_LIMIT.limit;
      for (let i = 20; i < limit; i++)
        expect((await countedClient.call("GET", "/admin/settings", { token: user.token, ip })).status).toBe(403);
      for (let i = 0; i < 5; i++)
        expect((await countedClient.call("GET", "/admin/settings", { token: user.token, ip })).status).toBe(429);
      expect(counted.queries()).toBe(1);
      // Whoever spent the address's budget, an operator there is not locked out, nor is the admin token.
      await countedClient.expectJson(
        await countedClient.call("GET", "/admin/settings", { token: operator.token, ip }),
        200,
      );
      await countedClient.expectJson(
        await countedClient.call("GET", "/admin/settings", { token: ADMIN_TOKEN, ip }),
        200,
      );
    },
  );

  test(
    "refused access tokens on admin routes spend no budget: an operator " +
      "console polling with an expired token does not lock out its address",
    async () => {
      const [operator, user] = [await client.createUser(), await client.createUser()];
      const [header, payload] = operator.token.split(".");
      const ip = randomIp();
      for (let i = 0; i < DEFAULT_AUTH_FAILURE_LIMIT.limit + 5; i++) {
        expect(
          (await client.call("GET", "/admin/settings", { token: `${header}.${payload}.${"A".repeat(86)}`, ip })).status,
        ).toBe(401);
      }
      const afterwards = await client.call("GET", "/admin/settings", { token: user.token, ip });
      expect(((await afterwards.json()) as ErrorBody).error.code).toBe("FORBIDDEN");
    },
  );
});

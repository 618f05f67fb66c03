import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { auditEvents, signingKeys as signingKeysTable } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import signingKeys from "./signing-keys.ts";

const ADMIN_TOKEN = "admin-token-0123456789-0123456789-abcdef";

describe("POST /admin/signing-keys/rotate", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({ env: { ADMIN_TOKEN } });
    app = buildApp(runtime, [signingKeys]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  const rotate = (authorization?: string) =>
    app.fetch(
      new Request("http://localhost/admin/signing-keys/rotate", {
        method: "POST",
        headers: authorization === undefined ? {} : { authorization, "user-agent": "ops-cli/1.0" },
      }),
    );

  test("refuses callers without the admin token and rotates nothing", async () => {
    const before = await runtime.db.primary.select().from(signingKeysTable);
    for (const authorization of [undefined, "Bearer wrong", `Basic ${ADMIN_TOKEN}`]) {
      const response = await rotate(authorization);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    }
    expect(await runtime.db.primary.select().from(signingKeysTable)).toEqual(before);
  });

  test("rotates now, reloads the local ring and records who did it", async () => {
    const before = await runtime.services.identity.keyRing.get();
    const response = await rotate(`Bearer ${ADMIN_TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as { current: string; next: string; retired: string[] };
    expect(Object.keys(body).sort()).toEqual(["current", "next", "retired"]);
    expect(body.current).not.toBe(before.signingKid);
    expect(before.verificationKeys.has(body.current)).toBe(true);
    expect((await runtime.services.identity.keyRing.get()).signingKid).toBe(body.current);

    const [event] = await runtime.db.primary
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "signing_key.rotated"));
    expect(event).toMatchObject({
      actorType: "admin",
      targetType: "signing_key",
      targetId: body.current,
      userAgent: "ops-cli/1.0",
      metadata: { next: body.next, retired: [] },
    });
    expect(event?.requestId).toBe(response.headers.get("x-request-id"));
  });

  test("a second forced rotation right away is honoured (an operator may rotate twice after a leak)", async () => {
    const first = (await (await rotate(`Bearer ${ADMIN_TOKEN}`)).json()) as { current: string; next: string };
    const second = (await (await rotate(`Bearer ${ADMIN_TOKEN}`)).json()) as { current: string };
    expect(second.current).toBe(first.next);
    const states = (await runtime.db.primary.select({ state: signingKeysTable.state }).from(signingKeysTable)).map(
      (row) => row.state,
    );
    expect(states.filter((state) => state === "current")).toHaveLength(1);
  });
});

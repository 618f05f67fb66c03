import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditEvents } from "../lib/db/schema/index.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import type { TestUser } from "../test/identity-client.ts";
import {
  newDelivery,
  openWebhookTestApp,
  postDelivery,
  secretFor,
  signedHeaders,
  type WebhookTestApp,
} from "../test/webhook-client.ts";

describe("webhook sources", () => {
  let harness: WebhookTestApp;
  let owner: TestUser;
  let orgId: string;
  beforeAll(async () => {
    harness = await openWebhookTestApp("pglite");
    owner = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const sources = `/v1/orgs/${"{orgId}"}/webhook-sources`;
  const call = (method: string, path: string, body?: unknown, token = owner.token) =>
    harness.client.call(method, path.replace("{orgId}", orgId), { token, body });

  test("a pasted signature as the secret is refused with the reason", async () => {
    const response = await call("POST", sources, { kind: "standard", name: "bad", secret: "v1,whsec_abc" });
    const body = await harness.client.expectJson<{ error: { code: string; details: { fields: unknown[] } } }>(
      response,
      422,
    );
    expect(body.error.details.fields).toEqual([
      { path: "secret", message: "this looks like a signature (v1,…), not a secret: paste the whsec_… value" },
    ]);
  });

  test("the list names sources and their secrets' validity, never a secret", async () => {
    const secret = secretFor("stripe");
    await harness.client.expectJson(await call("POST", sources, { kind: "stripe", name: "pay", secret }), 201);
    const response = await call("GET", sources);
    const text = await response.clone().text();
    expect(text).not.toContain(secret);
    const { sources: listed } = await harness.client.expectJson<{ sources: { name: string; kind: string }[] }>(
      response,
      200,
    );
    expect(listed.some((source) => source.name === "pay" && source.kind === "stripe")).toBe(true);
  });

  test("a member who is not an admin cannot create a source", async () => {
    const member = await harness.client.createUser();
    await harness.client.addMember(owner, orgId, member, "member");
    const response = await call("POST", sources, { kind: "github", name: "x", secret: "s" }, member.token);
    expect(response.status).toBe(403);
  });

  test("after a rotation both secrets verify for the overlap, then only the new one", async () => {
    const oldSecret = secretFor("standard");
    const source = await harness.client.expectJson<{ id: string }>(
      await call("POST", sources, { kind: "standard", name: "rotating", secret: oldSecret }),
      201,
    );
    const newSecret = secretFor("standard");
    const rotated = await harness.client.expectJson<{ overlapEndsAt: string }>(
      await call("POST", `${sources}/${source.id}/rotate`, { secret: newSecret, overlapSeconds: 3600 }),
      201,
    );
    expect(Date.parse(rotated.overlapEndsAt) - harness.clock.now()).toBeLessThanOrEqual(3_600_000);
    const post = (secret: string) => {
      const delivery = newDelivery("ping");
      const headers = signedHeaders("standard", [secret], delivery, harness.clock.now());
      return postDelivery(harness.app, source.id, headers, delivery.body).then((response) => response.status);
    };
    try {
      expect([await post(oldSecret), await post(newSecret)]).toEqual([200, 200]);
      harness.clock.advance(3_600_000 + 1_000);
      expect([await post(oldSecret), await post(newSecret)]).toEqual([401, 200]);
    } finally {
      harness.clock.reset();
    }
    const audit = await harness.runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.targetId, source.id), eq(auditEvents.action, "webhook_source.secret_rotated")));
    expect(audit.length).toBe(1);
    expect(JSON.stringify(audit)).not.toContain(newSecret);
  });

  test("a second rotation ends the first overlap: never more than two live secrets", async () => {
    const first = secretFor("github");
    const source = await harness.client.expectJson<{ id: string }>(
      await call("POST", sources, { kind: "github", name: "twice", secret: first }),
      201,
    );
    for (const secret of [secretFor("github"), secretFor("github")])
      await harness.client.expectJson(await call("POST", `${sources}/${source.id}/rotate`, { secret }), 201);
    const { sources: listed } = await harness.client.expectJson<{
      sources: { id: string; secrets: unknown[] }[];
    }>(await call("GET", sources), 200);
    expect(listed.find((entry) => entry.id === source.id)?.secrets.length).toBe(2);
    const delivery = newDelivery("push");
    const headers = signedHeaders("github", [first], delivery, harness.clock.now());
    expect((await postDelivery(harness.app, source.id, headers, delivery.body)).status).toBe(401);
  });
});

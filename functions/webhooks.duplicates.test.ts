import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { webhookInbox } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { SEEN_DELIVERY_PREFIX } from "../lib/webhooks/seen-deliveries.ts";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  openTestRuntime,
  STORE_BACKENDS,
  TEST_POSTGRES_URL,
  type TestRuntime,
} from "../test/backends.ts";
import { type CountedRuntime, withCountedQueries } from "../test/counting-db.ts";
import { ADMIN_TOKEN, identityClient } from "../test/identity-client.ts";
import { newDelivery, postDelivery, secretFor, signedHeaders } from "../test/webhook-client.ts";
import orgs from "./orgs.ts";
import webhookSources from "./webhook-sources.ts";
import webhooks from "./webhooks.ts";

const DATABASE = TEST_POSTGRES_URL === undefined ? "pglite" : "postgres";

describe.each(STORE_BACKENDS)(`duplicate webhook deliveries on ${DATABASE} and the %s store`, (store) => {
  let runtime: TestRuntime;
  let counted: CountedRuntime<TestRuntime>;
  let app: RampartApp;
  let source: { id: string; secret: string };

  beforeAll(async () => {
    runtime = await openTestRuntime({ database: DATABASE, store, env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
    counted = withCountedQueries(runtime);
    app = buildApp(counted.runtime, [orgs, webhookSources, webhooks]);
    const client = identityClient(counted.runtime, app);
    const owner = await client.createUser();
    const orgId = await client.createOrg(owner);
    const secret = secretFor("standard");
    const created = await client.expectJson<{ id: string }>(
      await client.call("POST", `/v1/orgs/${orgId}/webhook-sources`, {
        token: owner.token,
        body: { kind: "standard", name: "standard source", secret },
      }),
      201,
    );
    source = { id: created.id, secret };
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  const post = async (delivery: ReturnType<typeof newDelivery>) => {
    const headers = signedHeaders("standard", [source.secret], delivery, Date.now());
    const response = await postDelivery(app, source.id, headers, delivery.body);
    expect(response.status).toBe(200);
    return (await response.json()) as { received: boolean; duplicate: boolean };
  };

  test(
    "a new delivery costs one INSERT and one store call",
    async () => {
      counted.reset();
      expect(await post(newDelivery("test.fast-path"))).toEqual({ received: true, duplicate: false });
      expect(counted.queriesOf("insert")).toBe(1);
      expect(counted.storeCalls(SEEN_DELIVERY_PREFIX)).toBe(1);
    },
    BACKEND_HOOK_TIMEOUT_MS,
  );

  test(
    "once PostgreSQL has refused a duplicate, the next is answered from one store call without an INSERT",
    async () => {
      const delivery = newDelivery("test.fast-path");
      await post(delivery);
      expect(await post(delivery)).toEqual({ received: true, duplicate: true });
      // The marker is written in the background once PostgreSQL has refused the duplicate.
      const marker = `${SEEN_DELIVERY_PREFIX}${source.id}:${delivery.id}`;
      for (let round = 0; round < 1000 && (await runtime.store.get(marker)) === null; round++) await Bun.sleep(10);
      counted.reset();
      expect(await post(delivery)).toEqual({ received: true, duplicate: true });
      expect(counted.queriesOf("insert")).toBe(0);
      expect(counted.storeCalls(SEEN_DELIVERY_PREFIX)).toBe(1);
      const rows = await runtime.db.primary.select().from(webhookInbox).where(eq(webhookInbox.externalId, delivery.id));
      expect(rows).toHaveLength(1);
    },
    BACKEND_HOOK_TIMEOUT_MS,
  );
});

import { afterAll, beforeAll, expect, test } from "bun:test";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import type { OutboundDeliveryOptions } from "../lib/webhooks/outbound-delivery.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { ADMIN_TOKEN, type IdentityClient, identityClient, type TestUser } from "../test/identity-client.ts";
import { type StandardWebhooksReceiver, startStandardWebhooksReceiver } from "../test/standard-webhooks-receiver.ts";
import { keyRoutes } from "./keys.ts";
import { orgRoutes } from "./orgs.ts";
import { webhookEndpointRoutes } from "./webhook-endpoints.ts";

const TEST_TIMEOUT_MS = 30_000;

// The receiver runs on loopback over http:, which only this development setting allows (production refuses it).
const devOptions: Partial<OutboundDeliveryOptions> = {
  url: { allowHttp: true, allowLoopback: true, resolve: async () => ["93.184.215.14"] },
};

let runtime: TestRuntime;
let app: RampartApp;
let client: IdentityClient;
let receiver: StandardWebhooksReceiver;

// The real clock: standardwebhooks checks the timestamp against its own Date.now().
beforeAll(async () => {
  runtime = await openTestRuntime({ database: "pglite", env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
  app = buildApp(runtime, [orgRoutes(devOptions), keyRoutes(devOptions), webhookEndpointRoutes(devOptions)]);
  client = identityClient(runtime, app);
  receiver = startStandardWebhooksReceiver();
}, BACKEND_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await receiver.stop();
  await runtime.close();
}, BACKEND_HOOK_TIMEOUT_MS);

async function orgWithEndpoint(path: string) {
  const owner: TestUser = await client.createUser();
  const orgId = await client.createOrg(owner);
  const endpoint = await client.expectJson<{ id: string; secret: string }>(
    await client.call("POST", `/v1/orgs/${orgId}/webhook-endpoints`, {
      token: owner.token,
      body: { url: receiver.url(path), eventTypes: ["api_key.created"] },
    }),
    201,
  );
  return { owner, orgId, endpoint };
}

/** Waits (without a fixed sleep) for the background send to reach the receiver. */
async function deliveriesTo(path: string) {
  for (let round = 0; round < 1000 && !receiver.received.some((d) => d.path === path); round++) await Bun.sleep(10);
  return receiver.received.filter((delivery) => delivery.path === path);
}

test(
  "a delivery verifies with standardwebhooks' Webhook(secret).verify",
  async () => {
    const { owner, orgId, endpoint } = await orgWithEndpoint("/one");
    receiver.secrets = [endpoint.secret];
    const key = await client.createKey(owner, orgId);
    const [delivery] = await deliveriesTo("/one");
    expect(delivery?.verifiedBy).toEqual([true]);
    expect(delivery?.payload).toMatchObject({ type: "api_key.created", data: { keyId: key.id } });
  },
  TEST_TIMEOUT_MS,
);

test(
  "during a rotation's overlap the old and the new secret each verify the delivery alone",
  async () => {
    const { owner, orgId, endpoint } = await orgWithEndpoint("/rotated");
    const rotated = await client.expectJson<{ secret: string }>(
      await client.call("POST", `/v1/orgs/${orgId}/webhook-endpoints/${endpoint.id}/rotate`, {
        token: owner.token,
        body: {},
      }),
      201,
    );
    receiver.secrets = [endpoint.secret, rotated.secret];
    await client.createKey(owner, orgId);
    const [delivery] = await deliveriesTo("/rotated");
    expect(delivery?.verifiedBy).toEqual([true, true]);
  },
  TEST_TIMEOUT_MS,
);

test(
  "a secret that is not the endpoint's does not verify it",
  async () => {
    const { owner, orgId, endpoint } = await orgWithEndpoint("/other");
    const other = await orgWithEndpoint("/unused");
    receiver.secrets = [other.endpoint.secret, endpoint.secret];
    await client.createKey(owner, orgId);
    const [delivery] = await deliveriesTo("/other");
    expect(delivery?.verifiedBy).toEqual([false, true]);
  },
  TEST_TIMEOUT_MS,
);

/**
 * Outbound webhooks from the Deno Deploy bundle under real Deno: an API key created through it is delivered,
 * signed with Deno's WebCrypto, to a receiver that checks it with the standardwebhooks package. Deno runs in
 * development with WEBHOOK_LOCAL_ENDPOINTS, the setting that lets a delivery reach a loopback receiver.
 */
import { expect, test } from "bun:test";
import { freshEmail, freshIp, PASSWORD } from "./auth-client.ts";
import {
  createScratchDatabase,
  GATEWAY_TOKEN,
  neonProxyAddress,
  openTestDatabase,
  upstashGatewayUrl,
} from "./backends.ts";
import { type RunningDenoBundle, startDenoBundle } from "./deno-bundle.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { type StandardWebhooksReceiver, startStandardWebhooksReceiver } from "./standard-webhooks-receiver.ts";

// Building the bundle and starting Deno take seconds.
const SETUP_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 30_000;

describeWithServers(["postgres", "redis"], "outbound webhooks from the Deno bundle", ({ beforeAll, afterAll }) => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let deno: RunningDenoBundle | undefined;
  let receiver: StandardWebhooksReceiver;

  const callDeno = async <T>(path: string, status: number, body?: unknown, token?: string): Promise<T> => {
    const headers: Record<string, string> = { "x-forwarded-for": freshIp(), "content-type": "application/json" };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${deno?.url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    expect({ status: response.status, body: text }).toMatchObject({ status });
    return JSON.parse(text) as T;
  };

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    const migrating = await openTestDatabase("postgres", undefined, scratch.url);
    await migrating.migrate();
    await migrating.close();
    receiver = startStandardWebhooksReceiver();
    deno = await startDenoBundle({
      NODE_ENV: "development",
      WEBHOOK_LOCAL_ENDPOINTS: "true",
      DATABASE_URL: scratch.url,
      NEON_WS_PROXY: await neonProxyAddress(),
      UPSTASH_REDIS_REST_URL: await upstashGatewayUrl(),
      UPSTASH_REDIS_REST_TOKEN: GATEWAY_TOKEN,
      TRUST_PROXY: "1",
      // Dropping the scratch database at the end ends pooled connections, which warns.
      LOG_LEVEL: "error",
    });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await deno?.stop();
    await receiver?.stop();
    await scratch?.drop();
  });

  test(
    "an API key created through Deno is delivered signed, and standardwebhooks verifies it",
    async () => {
      const { accessToken } = await callDeno<{ accessToken: string }>("/v1/auth/signup", 201, {
        email: freshEmail(),
        password: PASSWORD,
      });
      const org = await callDeno<{ id: string }>("/v1/orgs", 201, { name: "Deno" }, accessToken);
      const endpoint = await callDeno<{ secret: string }>(
        `/v1/orgs/${org.id}/webhook-endpoints`,
        201,
        { url: receiver.url("/deno"), eventTypes: ["api_key.created"] },
        accessToken,
      );
      receiver.secrets = [endpoint.secret];
      const key = await callDeno<{ id: string }>(
        `/v1/orgs/${org.id}/keys`,
        201,
        { name: "deno", scopes: ["orgs:read"] },
        accessToken,
      );
      // Sent in the background once the key's transaction commits; wait for it without a fixed sleep.
      for (let round = 0; round < 1000 && receiver.received.length === 0; round++) await Bun.sleep(10);
      expect(receiver.received.map(({ path, verifiedBy }) => ({ path, verifiedBy }))).toEqual([
        { path: "/deno", verifiedBy: [true] },
      ]);
      expect(receiver.received[0]?.payload).toMatchObject({ type: "api_key.created", data: { keyId: key.id } });
    },
    TEST_TIMEOUT_MS,
  );
});

/**
 * The Deno Deploy bundle under real Deno (the npm distribution), on the production drivers: Neon's
 * serverless driver through the local WebSocket proxy and @upstash/redis through the local gateway, over
 * the test PostgreSQL and Redis. A Bun instance (the Vercel entry) shares them, so accounts and tokens
 * made under one runtime are checked under the other: Deno hashes passwords with hash-wasm, Bun with
 * Bun.password. Deno runs a copy of the bundle from an empty directory with only --allow-net and --allow-env,
 * as a deployment does: nothing beside it to resolve a package from. Runs when TEST_POSTGRES_URL and
 * TEST_REDIS_URL are set (`.ci/start-services`).
 */
import { expect, test } from "bun:test";
import { inArray } from "drizzle-orm";
import authRoutes from "../functions/auth.ts";
import live, { LIVE_PROTOCOL } from "../functions/live.ts";
import me from "../functions/me.ts";
import orgs from "../functions/orgs.ts";
import webhookSources from "../functions/webhook-sources.ts";
import { loadConfig } from "../lib/config/config.ts";
import { webhookInbox } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { createServerlessApp, type ServerlessApp } from "../lib/serverless/serverless-app.ts";
import { freshEmail, freshIp, PASSWORD } from "./auth-client.ts";
import {
  clearLiveSettings,
  createScratchDatabase,
  GATEWAY_TOKEN,
  neonProxyAddress,
  openTestDatabase,
  openTestRuntime,
  upstashGatewayUrl,
} from "./backends.ts";
import { type RunningDenoBundle, startDenoBundle } from "./deno-bundle.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { identityClient } from "./identity-client.ts";
import { sseReader } from "./live-client.ts";
import { rawHandshake } from "./raw-websocket.ts";
import { createInteropSources, expectedResults, interopCases, sendInteropMatrix } from "./webhook-interop.ts";

// Building the bundle, starting Deno and hashing at the production cost take seconds.
const SETUP_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 30_000;
const APP_ORIGIN = "https://app.example.com";

interface Tokens {
  accessToken: string;
}

describeWithServers(
  ["postgres", "redis"],
  "Deno Deploy bundle under Deno, on Neon and Upstash",
  ({ beforeAll, afterAll }) => {
    let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
    let deno: RunningDenoBundle | undefined;
    let denoUrl: string;
    let bun: ServerlessApp;
    const encryptionKeys = `v1:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;

    // Behind one trusted proxy, so every request can come from an address the shared Redis has not seen.
    const callDeno = (path: string, init: RequestInit = {}) =>
      fetch(`${denoUrl}${path}`, {
        ...init,
        headers: { "x-forwarded-for": freshIp(), ...(init.headers as Record<string, string>) },
      });
    const callBun = (path: string, init: RequestInit = {}) =>
      bun.fetch(
        new Request(`https://rampart.example${path}`, {
          ...init,
          headers: { "x-forwarded-for": freshIp(), ...(init.headers as Record<string, string>) },
        }),
      );
    const credentials = (email: string) => ({
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    const bearer = (tokens: Tokens) => ({ headers: { authorization: `Bearer ${tokens.accessToken}` } });

    beforeAll(async () => {
      scratch = await createScratchDatabase();
      const migrating = await openTestDatabase("postgres", undefined, scratch.url);
      await migrating.migrate();
      await migrating.close();
      const env = {
        NODE_ENV: "production",
        DATABASE_URL: scratch.url,
        NEON_WS_PROXY: await neonProxyAddress(),
        UPSTASH_REDIS_REST_URL: await upstashGatewayUrl(),
        UPSTASH_REDIS_REST_TOKEN: GATEWAY_TOKEN,
        ENCRYPTION_KEYS: encryptionKeys,
        TRUST_PROXY: "1",
        CORS_ORIGINS: APP_ORIGIN,
        // Dropping the scratch database at the end ends pooled connections, which warns.
        LOG_LEVEL: "error",
      };
      await clearLiveSettings();
      deno = await startDenoBundle(env);
      denoUrl = deno.url;
      bun = createServerlessApp(loadConfig(env), [authRoutes, me, live]);
    }, SETUP_TIMEOUT_MS);

    afterAll(async () => {
      await deno?.stop();
      await (await bun?.runtime())?.db.close();
      await scratch?.drop();
    });

    test(
      "is ready on the Neon driver and the Upstash store, with the guards' headers",
      async () => {
        const response = await callDeno("/health/ready");
        expect(response.status).toBe(200);
        const body = (await response.json()) as { checks: Record<string, { status: string; driver: string }> };
        expect(body.checks.database).toMatchObject({ status: "up", driver: "neon" });
        expect(body.checks.store).toMatchObject({ status: "up", driver: "upstash" });
        expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
        expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "an account made under Deno signs in under Bun, and one made under Bun signs in under Deno",
      async () => {
        const madeUnderDeno = freshEmail();
        expect((await callDeno("/v1/auth/signup", credentials(madeUnderDeno))).status).toBe(201);
        const loggedInUnderBun = await callBun("/v1/auth/login", credentials(madeUnderDeno));
        expect(loggedInUnderBun.status).toBe(200);

        const madeUnderBun = freshEmail();
        expect((await callBun("/v1/auth/signup", credentials(madeUnderBun))).status).toBe(201);
        const loggedInUnderDeno = await callDeno("/v1/auth/login", credentials(madeUnderBun));
        expect(loggedInUnderDeno.status).toBe(200);

        // Each runtime accepts the other's access tokens: one signing key ring, in the database.
        const meUnderBun = await callBun("/v1/me", bearer((await loggedInUnderDeno.json()) as Tokens));
        expect(((await meUnderBun.json()) as { email: string }).email).toBe(madeUnderBun);
        const meUnderDeno = await callDeno("/v1/me", bearer((await loggedInUnderBun.json()) as Tokens));
        expect(meUnderDeno.status).toBe(200);
        expect(((await meUnderDeno.json()) as { email: string }).email).toBe(madeUnderDeno);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "a wrong password, bad JSON and an unknown route answer 4xx in the envelope, with rate-limit headers",
      async () => {
        const email = freshEmail();
        expect((await callDeno("/v1/auth/signup", credentials(email))).status).toBe(201);
        const wrong = await callDeno("/v1/auth/login", {
          ...credentials(email),
          body: JSON.stringify({ email, password: "not the password at all" }),
        });
        expect(wrong.status).toBe(401);
        expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
        expect(Number(wrong.headers.get("ratelimit-limit"))).toBeGreaterThan(0);

        const malformed = await callDeno("/v1/auth/login", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"email": ',
        });
        expect(malformed.status).toBe(400);
        expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe("INVALID_JSON");

        const missing = await callDeno("/v1/nowhere");
        expect(missing.status).toBe(404);
        expect(((await missing.json()) as { error: { code: string; requestId: string } }).error).toMatchObject({
          code: "NOT_FOUND",
          requestId: missing.headers.get("x-request-id") ?? "",
        });
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "accepts each sender library's delivery once and refuses each forgery with 401, leaving no row",
      async () => {
        // Sources are made under Bun over the same database and keys; the deliveries go to Deno.
        const runtime = await openTestRuntime({
          db: await openTestDatabase("postgres", undefined, scratch.url),
          env: { ENCRYPTION_KEYS: encryptionKeys, TRUST_PROXY: "1" },
        });
        try {
          const sources = await createInteropSources(
            identityClient(runtime, buildApp(runtime, [orgs, webhookSources])),
          );
          const cases = interopCases();
          const results = await sendInteropMatrix(
            cases,
            sources,
            (sourceId, headers, body) =>
              callDeno(`/v1/webhooks/${sourceId}`, {
                method: "POST",
                headers: { "content-type": "application/json", ...headers },
                body,
              }),
            Date.now,
          );
          expect(results).toEqual(expectedResults(cases));
          const rows = await runtime.db.primary
            .select({ externalId: webhookInbox.externalId })
            .from(webhookInbox)
            .where(
              inArray(
                webhookInbox.sourceId,
                Object.values(sources).map((source) => source.id),
              ),
            );
          const accepted = cases.filter((entry) => entry.accepted).map((entry) => entry.externalId);
          expect(rows.map((row) => row.externalId).sort()).toEqual(accepted.sort());
        } finally {
          await runtime.close();
        }
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "streams an organization's events as Server-Sent Events under Deno, and opens one with a ticket under Bun",
      async () => {
        const signup = await callDeno("/v1/auth/signup", credentials(freshEmail()));
        const tokens = (await signup.json()) as Tokens;
        const created = await callDeno("/v1/orgs", {
          method: "POST",
          headers: { authorization: `Bearer ${tokens.accessToken}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "Live" }),
        });
        const { id: orgId } = (await created.json()) as { id: string };
        const stream = await callDeno(`/v1/orgs/${orgId}/events`, bearer(tokens));
        expect(stream.status).toBe(200);
        expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
        const events = sseReader(stream);
        const ticketResponse = await callDeno(`/v1/orgs/${orgId}/live/tickets`, { method: "POST", ...bearer(tokens) });
        expect(ticketResponse.status).toBe(201);
        const { ticket } = (await ticketResponse.json()) as { ticket: string };
        const underBun = sseReader(
          await callBun("/v1/live/events", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ticket }),
          }),
        );
        const key = await callDeno(`/v1/orgs/${orgId}/keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${tokens.accessToken}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "live", scopes: ["events:read"] }),
        });
        const { id: keyId } = (await key.json()) as { id: string };
        for (const reader of [events, underBun]) {
          const [frame] = await reader.next(1);
          expect(frame?.event).toBe("api_key.created");
          expect(JSON.parse(frame?.data ?? "{}").data.keyId).toBe(keyId);
          await reader.cancel();
        }
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "a WebSocket with a ticket upgrades under Deno and gets an event; a reused ticket or foreign origin is refused",
      async () => {
        const tokens = (await (await callDeno("/v1/auth/signup", credentials(freshEmail()))).json()) as Tokens;
        const created = await callDeno("/v1/orgs", {
          method: "POST",
          headers: { authorization: `Bearer ${tokens.accessToken}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "Live socket" }),
        });
        const { id: orgId } = (await created.json()) as { id: string };
        const ticketFor = async () => {
          const response = await callDeno(`/v1/orgs/${orgId}/live/tickets`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokens.accessToken}`, origin: APP_ORIGIN },
          });
          expect(response.status).toBe(201);
          return ((await response.json()) as { ticket: string }).ticket;
        };
        const ticket = await ticketFor();
        const socket = new WebSocket(`${denoUrl.replace("http", "ws")}/v1/live`, {
          protocols: [LIVE_PROTOCOL, `ticket.${ticket}`],
          headers: { origin: APP_ORIGIN, "x-forwarded-for": freshIp() },
        } as unknown as string[]);
        const firstEvent = new Promise<{ type: string; data: { keyId?: string } }>((resolve, reject) => {
          socket.onmessage = (message) => {
            const parsed = JSON.parse(String(message.data));
            if (parsed.kind === "event") resolve(parsed);
          };
          socket.onclose = (event) => reject(new Error(`closed with ${event.code} ${event.reason}`));
        });
        // Awaited below once the socket is open; a close before that is the open's failure to report.
        firstEvent.catch(() => undefined);
        await new Promise<void>((resolve, reject) => {
          socket.onopen = () => resolve();
          socket.onerror = () => reject(new Error("the WebSocket did not open under Deno"));
        });
        try {
          expect(socket.protocol).toBe(LIVE_PROTOCOL);
          const key = await callDeno(`/v1/orgs/${orgId}/keys`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokens.accessToken}`, "content-type": "application/json" },
            body: JSON.stringify({ name: "live", scopes: ["events:read"] }),
          });
          const { id: keyId } = (await key.json()) as { id: string };
          expect(await firstEvent).toMatchObject({ type: "api_key.created", data: { keyId } });
        } finally {
          socket.close();
        }

        const port = Number(new URL(denoUrl).port);
        const handshake = (used: string, origin: string) =>
          rawHandshake(port, "/v1/live", {
            Origin: origin,
            "Sec-WebSocket-Protocol": `${LIVE_PROTOCOL}, ticket.${used}`,
            "X-Forwarded-For": freshIp(),
          });
        const reused = await handshake(ticket, APP_ORIGIN);
        expect(reused.status).toBe(401);
        reused.close();
        const foreign = await handshake(await ticketFor(), "https://evil.example");
        expect(foreign.status).toBe(403);
        foreign.close();
      },
      TEST_TIMEOUT_MS,
    );
  },
);

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { eq } from "drizzle-orm";
import { sessions } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { connectLive, type LiveEventMessage } from "../lib/live/reconnecting-client.ts";
import { LIVE_WEBSOCKET_SERVER } from "../lib/live/websocket-server.ts";
import { enqueueWebhookMessage } from "../lib/outbox/webhook-outbox.ts";
import { deriveRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { type IdentityTestApp, openIdentityTestApp, type TestUser } from "../test/identity-client.ts";
import { closeCodeOf, rawHandshake } from "../test/raw-websocket.ts";
import keys from "./keys.ts";
import { LIVE_PROTOCOL, type LiveOptions, liveRoutes } from "./live.ts";
import orgs from "./orgs.ts";

const TEST_TIMEOUT_MS = 20_000;
const APP_ORIGIN = "https://app.example.com";
const LIVE: Partial<LiveOptions> = {
  pollMs: 50,
  heartbeatMs: 100,
  idleTimeoutMs: 400,
  messageRate: { perSecond: 1, burst: 5 },
  connectionCaps: { perSubject: 2, perIp: 50 },
};

describe("live events over WebSocket", () => {
  let harness: IdentityTestApp;
  // Two instances over one database and store, each with its own feed and Bun server.
  let serverA: Server<unknown>;
  let serverB: Server<unknown>;
  let runtimeA: Runtime;
  let owner: TestUser;
  let orgId: string;
  let addresses = 0;
  beforeAll(async () => {
    harness = await openIdentityTestApp("pglite", "memory", { CORS_ORIGINS: APP_ORIGIN });
    // Each instance with a lifecycle (and revocation cache) of its own, over the shared database and store.
    const serve = (runtime: Runtime) => {
      const app: RampartApp = buildApp(runtime, [orgs, keys, liveRoutes(LIVE)]);
      return Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket: LIVE_WEBSOCKET_SERVER });
    };
    runtimeA = deriveRuntime(harness.runtime, { lifecycle: { shuttingDown: false } });
    serverA = serve(runtimeA);
    serverB = serve(deriveRuntime(harness.runtime, { lifecycle: { shuttingDown: false } }));
    owner = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    serverA.stop(true);
    serverB.stop(true);
    await harness.runtime.close();
  });

  const ticketFor = async (user: TestUser, origin: string | null = APP_ORIGIN, via = serverA): Promise<string> => {
    const headers: Record<string, string> = { authorization: `Bearer ${user.token}`, "x-forwarded-for": "10.8.0.1" };
    if (origin !== null) headers.origin = origin;
    const response = await fetch(`http://127.0.0.1:${via.port}/v1/orgs/${orgId}/live/tickets`, {
      method: "POST",
      headers,
    });
    return harness.client.expectJson<{ ticket: string }>(response, 201).then((body) => body.ticket);
  };
  const handshake = (server: Server<unknown>, headers: Record<string, string>, path = "/v1/live") =>
    rawHandshake(server.port as number, path, { "X-Forwarded-For": `10.7.0.${++addresses}`, ...headers });
  const withTicket = (ticket: string, origin: string | null = APP_ORIGIN): Record<string, string> => ({
    ...(origin === null ? {} : { Origin: origin }),
    "Sec-WebSocket-Protocol": `${LIVE_PROTOCOL}, ticket.${ticket}`,
  });
  const connect = (server: Server<unknown>, ticket: string, query = "") =>
    new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/live${query}`, {
        protocols: [LIVE_PROTOCOL, `ticket.${ticket}`],
        headers: { origin: APP_ORIGIN, "x-forwarded-for": `10.6.0.${++addresses}` },
      } as unknown as string[]);
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error("the WebSocket did not open"));
    });
  const nextEvent = (socket: WebSocket) =>
    new Promise<{ id: string; type: string; data: Record<string, unknown> }>((resolve) => {
      const listener = (message: MessageEvent) => {
        const parsed = JSON.parse(String(message.data));
        if (parsed.kind !== "event") return;
        socket.removeEventListener("message", listener);
        resolve(parsed);
      };
      socket.addEventListener("message", listener);
    });
  const closed = (socket: WebSocket) =>
    new Promise<number>((resolve) => {
      socket.onclose = (event) => resolve(event.code);
    });

  describe("the handshake", () => {
    test("a valid ticket from an allowed origin upgrades, echoing only the application protocol", async () => {
      const ticket = await ticketFor(owner);
      const socket = await handshake(serverA, withTicket(ticket));
      expect(socket.status).toBe(101);
      expect(socket.headers.get("sec-websocket-protocol")).toBe(LIVE_PROTOCOL);
      expect([...socket.headers.values()].join("\n")).not.toContain(ticket);
      socket.close();
    });

    test("a ticket used once is refused the second time, before the upgrade", async () => {
      const ticket = await ticketFor(owner);
      (await handshake(serverA, withTicket(ticket))).close();
      const again = await handshake(serverB, withTicket(ticket));
      expect(again.status).toBe(401);
    });

    test("an expired ticket is refused", async () => {
      const ticket = await ticketFor(owner);
      harness.clock.advance(31_000);
      try {
        expect((await handshake(serverA, withTicket(ticket))).status).toBe(401);
      } finally {
        harness.clock.reset();
      }
    });

    test("no ticket is refused, and so is no application protocol", async () => {
      expect((await handshake(serverA, { Origin: APP_ORIGIN, "Sec-WebSocket-Protocol": LIVE_PROTOCOL })).status).toBe(
        401,
      );
      const ticket = await ticketFor(owner);
      expect(
        (await handshake(serverA, { Origin: APP_ORIGIN, "Sec-WebSocket-Protocol": `ticket.${ticket}` })).status,
      ).toBe(400);
    });

    test("a ticket in the query string is refused and spent", async () => {
      const ticket = await ticketFor(owner);
      const inUrl = await handshake(serverA, withTicket(ticket), `/v1/live?ticket=${ticket}`);
      expect(inUrl.status).toBe(400);
      expect((await handshake(serverA, withTicket(ticket))).status).toBe(401);
    });

    test("a foreign origin is refused, with a ticket asked for from the app's origin or from none", async () => {
      const fromApp = await ticketFor(owner);
      expect((await handshake(serverA, withTicket(fromApp, "https://evil.example"))).status).toBe(403);
      const fromNone = await ticketFor(owner, null);
      expect((await handshake(serverA, withTicket(fromNone, "https://evil.example"))).status).toBe(403);
    });

    test("a ticket asked for by another organization's member does not exist for this one", async () => {
      const stranger = await harness.client.createUser();
      const response = await fetch(`http://127.0.0.1:${serverA.port}/v1/orgs/${orgId}/live/tickets`, {
        method: "POST",
        headers: { authorization: `Bearer ${stranger.token}`, "x-forwarded-for": "10.8.0.2" },
      });
      expect(response.status).toBe(404);
    });
  });

  test(
    "an event committed through another instance reaches a WebSocket subscriber on instance B",
    async () => {
      const socket = await connect(serverB, await ticketFor(owner));
      const event = nextEvent(socket);
      const key = await harness.client.createKey(owner, orgId, { name: "ws-event" });
      expect(await event).toMatchObject({ type: "api_key.created", data: { keyId: key.id } });
      socket.close();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a flood of messages closes the socket with 1008 after at most the burst is answered",
    async () => {
      const socket = await connect(serverA, await ticketFor(owner));
      let pongs = 0;
      socket.addEventListener("message", (message) => {
        if (JSON.parse(String(message.data)).kind === "pong") pongs++;
      });
      const code = closed(socket);
      for (let i = 0; i < 100; i++) socket.send('{"kind":"ping"}');
      expect(await code).toBe(1008);
      expect(pongs).toBeGreaterThan(0);
      expect(pongs).toBeLessThanOrEqual(5);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a client that stops answering pings is closed within the idle timeout plus 5 s",
    async () => {
      const socket = await handshake(serverA, withTicket(await ticketFor(owner)));
      expect(socket.status).toBe(101);
      const started = performance.now();
      const close = await socket.waitFor((frame) => frame.opcode === 8);
      expect(close === undefined ? undefined : closeCodeOf(close)).toBe(4408);
      expect(performance.now() - started).toBeLessThan(400 + 5_000);
      expect(socket.frames().some((frame) => frame.opcode === 9)).toBe(true);
      socket.close();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "permessage-deflate is negotiated without context takeover, and large frames go out compressed",
    async () => {
      const socket = await handshake(serverA, {
        ...withTicket(await ticketFor(owner)),
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
      });
      expect(socket.status).toBe(101);
      const extensions = socket.headers.get("sec-websocket-extensions") ?? "";
      expect(extensions).toContain("permessage-deflate");
      expect(extensions).toContain("server_no_context_takeover");
      await harness.runtime.db.primary.transaction((tx) =>
        enqueueWebhookMessage(
          tx,
          { orgId, type: "member.added", data: { note: "large ".repeat(500) } },
          harness.runtime.now(),
        ),
      );
      const large = await socket.waitFor((frame) => frame.opcode === 1 && frame.compressed);
      expect(large?.payload.length).toBeLessThan(1_000);
      // The heartbeat, a few bytes, goes out as it is.
      const small = await socket.waitFor((frame) => frame.opcode === 1 && !frame.compressed);
      expect(new TextDecoder().decode(small?.payload)).toBe('{"kind":"heartbeat"}');
      socket.close();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "one user's open streams are capped across both instances",
    async () => {
      const user = await harness.client.createUser();
      await harness.client.addMember(owner, orgId, user, "member");
      const first = await connect(serverA, await ticketFor(user));
      const second = await connect(serverB, await ticketFor(user));
      const third = await handshake(serverA, withTicket(await ticketFor(user)));
      expect(third.status).toBe(429);
      const gone = closed(first);
      first.close();
      await gone;
      // The close is counted once the server has seen it; a later stream is admitted again.
      let admitted = 0;
      for (let attempt = 0; attempt < 50 && admitted !== 101; attempt++) {
        const retry = await handshake(serverB, withTicket(await ticketFor(user)));
        admitted = retry.status;
        retry.close();
        if (admitted !== 101) await Bun.sleep(20);
      }
      expect(admitted).toBe(101);
      second.close();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a revoked session's stream is closed with 4401 within the heartbeat plus the 5 s revocation cache",
    async () => {
      const user = await harness.client.createUser();
      await harness.client.addMember(owner, orgId, user, "member");
      const socket = await connect(serverB, await ticketFor(user));
      const code = closed(socket);
      const started = performance.now();
      const [session] = await harness.runtime.db.primary
        .select({ id: sessions.id })
        .from(sessions)
        .where(eq(sessions.userId, user.userId));
      // Revoked by another instance (the harness's runtime): B learns of it through the store.
      await harness.runtime.services.identity.revocations.revoke(session?.id ?? "");
      expect(await code).toBe(4401);
      expect(performance.now() - started).toBeLessThan(100 + 5_000 + 2_000);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "shutdown closes streams with 1001, and the client reconnects elsewhere after a jittered wait, losing nothing",
    async () => {
      const received: LiveEventMessage[] = [];
      const closes: { code: number; retryInMs: number | undefined }[] = [];
      let target = serverA;
      let arrived: () => void = () => {};
      const nextArrival = () => new Promise<void>((resolve) => (arrived = resolve));
      let opened = nextArrival();
      const client = connectLive({
        url: () => `ws://127.0.0.1:${target.port}/v1/live?types=api_key.created`,
        ticket: () => ticketFor(owner, APP_ORIGIN, target),
        onEvent: (event) => {
          received.push(event);
          arrived();
        },
        onClose: (code, retryInMs) => closes.push({ code, retryInMs }),
        reconnect: { baseMs: 200, random: () => 0.5 },
        socketOptions: { headers: { origin: APP_ORIGIN, "x-forwarded-for": "10.5.0.1" } },
      });
      try {
        // The first event proves the client is subscribed on A.
        let first = await harness.client.createKey(owner, orgId, { name: "before-shutdown" });
        for (let tries = 0; tries < 20 && received.length === 0; tries++) {
          await Promise.race([opened, Bun.sleep(200)]);
          if (received.length === 0) first = await harness.client.createKey(owner, orgId, { name: "before-shutdown" });
        }
        const seenBefore = received.length;
        expect(received.at(-1)?.data).toMatchObject({ keyId: first.id });
        target = serverB;
        runtimeA.lifecycle.shuttingDown = true;
        while (closes.length === 0) await Bun.sleep(20);
        expect(closes[0]).toEqual({ code: 1001, retryInMs: 100 });
        opened = nextArrival();
        const during = await harness.client.createKey(owner, orgId, { name: "while-away" });
        await opened;
        expect(received.slice(seenBefore).map((event) => (event.data as { keyId: string }).keyId)).toEqual([during.id]);
        const ids = received.map((event) => Number(event.id));
        expect(new Set(ids).size).toBe(ids.length);
      } finally {
        client.close();
        runtimeA.lifecycle.shuttingDown = false;
      }
    },
    TEST_TIMEOUT_MS,
  );
});

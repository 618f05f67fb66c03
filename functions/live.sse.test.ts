import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { type IdentityTestApp, openIdentityTestApp, type TestUser } from "../test/identity-client.ts";
import { sseReader } from "../test/live-client.ts";
import keys from "./keys.ts";
import { liveRoutes } from "./live.ts";
import orgs from "./orgs.ts";

const TEST_TIMEOUT_MS = 20_000;
const FAST = { pollMs: 50, heartbeatMs: 60_000 };

describe("live events over Server-Sent Events", () => {
  let harness: IdentityTestApp;
  // Two instances over one database, each with its own feed: B learns of A's commits only by polling.
  let instanceA: RampartApp;
  let instanceB: RampartApp;
  let owner: TestUser;
  let orgId: string;
  beforeAll(async () => {
    harness = await openIdentityTestApp();
    instanceA = buildApp(harness.runtime, [orgs, keys, liveRoutes(FAST)]);
    instanceB = buildApp(harness.runtime, [orgs, keys, liveRoutes(FAST)]);
    owner = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const openStream = (app: RampartApp, token: string, headers: Record<string, string> = {}, query = "") =>
    app.fetch(
      new Request(`http://localhost/v1/orgs/${orgId}/events${query}`, {
        headers: { authorization: `Bearer ${token}`, "x-forwarded-for": "10.9.0.1", ...headers },
      }),
    );
  const createKey = (name: string) =>
    harness.client.createKey(owner, orgId, { name, scopes: ["orgs:read"] }).then((key) => key.id);

  test(
    "an event committed on another instance reaches a subscriber on instance B, numbered",
    async () => {
      const response = await openStream(instanceB, owner.token);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const stream = sseReader(response);
      const keyId = await createKey("from-a");
      const [frame] = await stream.next(1);
      expect(frame?.event).toBe("api_key.created");
      const message = JSON.parse(frame?.data ?? "{}");
      expect(message).toMatchObject({ id: frame?.id, type: "api_key.created", data: { keyId } });
      expect(Number(frame?.id)).toBeGreaterThan(0);
      await stream.cancel();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a stream resumed from Last-Event-ID gets every later event once, in order, and none before",
    async () => {
      const first = sseReader(await openStream(instanceA, owner.token));
      await createKey("before-drop");
      const [seen] = await first.next(1);
      await first.cancel();
      // Written while no stream is open, on the other instance.
      const missed = [await createKey("missed-1"), await createKey("missed-2")];
      const resumed = sseReader(await openStream(instanceB, owner.token, { "last-event-id": seen?.id ?? "" }));
      const after = await createKey("after-resume");
      const frames = await resumed.next(3);
      expect(frames.map((frame) => JSON.parse(frame.data ?? "{}").data.keyId)).toEqual([...missed, after]);
      const ids = frames.map((frame) => Number(frame.id));
      expect(ids).toEqual([Number(seen?.id) + 1, Number(seen?.id) + 2, Number(seen?.id) + 3]);
      await resumed.cancel();
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a stream filtered by type gets only those types",
    async () => {
      const filtered = sseReader(await openStream(instanceA, owner.token, {}, "?types=member.added"));
      await createKey("not-wanted");
      const member = await harness.client.createUser();
      await harness.client.addMember(owner, orgId, member, "member");
      const [frame] = await filtered.next(1);
      expect(frame?.event).toBe("member.added");
      await filtered.cancel();
    },
    TEST_TIMEOUT_MS,
  );

  test("an unknown event type or a malformed Last-Event-ID is a 4xx, not a stream", async () => {
    const unknownType = await openStream(instanceA, owner.token, {}, "?types=api_key.created,nope");
    expect(unknownType.status).toBe(422);
    const badId = await openStream(instanceA, owner.token, { "last-event-id": "1; drop" });
    expect(badId.status).toBe(400);
  });

  test("another organization's member gets 404, and no credentials 401", async () => {
    const stranger = await harness.client.createUser();
    expect((await openStream(instanceA, stranger.token)).status).toBe(404);
    const anonymous = await instanceA.fetch(new Request(`http://localhost/v1/orgs/${orgId}/events`));
    expect(anonymous.status).toBe(401);
  });
});

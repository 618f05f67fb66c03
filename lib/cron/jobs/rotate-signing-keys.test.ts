import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { eq } from "drizzle-orm";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  openTestRuntime,
  type TestRuntime,
} from "../../../test/backends.ts";
import { retireAfterMs, rotateRuntimeSigningKeys } from "../../auth/signing-key-rotation.ts";
import { auditEvents, signingKeys } from "../../db/schema/index.ts";
import { runScheduledJob } from "../scheduled-job.ts";
import { DEFAULT_ROTATION_INTERVAL_MS, rotateSigningKeysJob } from "./rotate-signing-keys.ts";

const HOUR = 3_600_000;

describe.each(DATABASE_BACKENDS)("rotate-signing-keys on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  afterEach(() => setSystemTime());

  const runAt = (at: Date) => {
    setSystemTime(at);
    return runScheduledJob(runtime, rotateSigningKeysJob, at);
  };
  const stateOf = async (kid: string) =>
    (await runtime.db.primary.select({ state: signingKeys.state }).from(signingKeys).where(eq(signingKeys.kid, kid)))[0]
      ?.state;

  test(
    "rotates once a day: hourly runs before that change nothing, the one after rotates and reloads the local " + "ring",
    async () => {
      const start = Date.now();
      const { keyRing } = runtime.services.identity;
      const before = await keyRing.get();
      const nextBefore = before.jwks.keys.map((k) => k.kid).find((kid) => kid !== before.signingKid) as string;

      expect(await runAt(new Date(start + HOUR))).toMatchObject({ status: "succeeded", detail: "not due; retired 0" });
      expect(await runAt(new Date(start + 23 * HOUR))).toMatchObject({
        status: "succeeded",
        detail: "not due; retired 0",
      });
      const rotation = await runAt(new Date(start + 24 * HOUR));
      expect(rotation).toMatchObject({ status: "succeeded", detail: expect.stringMatching(/^rotated: /) });

      // The key that signs now was published as next before the rotation.
      const after = await keyRing.get();
      expect(after.signingKid).toBe(nextBefore);
      expect(await stateOf(before.signingKid)).toBe("retiring");
      expect((await runAt(new Date(start + 25 * HOUR))).status).toBe("succeeded");
      expect(await stateOf(nextBefore)).toBe("current");

      const [event] = await runtime.db.primary
        .select()
        .from(auditEvents)
        .where(eq(auditEvents.action, "signing_key.rotated"));
      expect(event).toMatchObject({ actorType: "system", targetType: "signing_key", targetId: nextBefore });
      expect(event?.metadata).toEqual({ next: expect.any(String), retired: [] });
    },
  );

  test("a retiring key is retired at the first run past the token lifetime, not a rotation later", async () => {
    const forcedAt = Date.now() + 5 * 24 * HOUR;
    setSystemTime(new Date(forcedAt));
    const previous = (await runtime.services.identity.keyRing.get()).signingKid;
    const forced = await rotateRuntimeSigningKeys(runtime, { actor: { type: "admin" } });
    expect(forced.rotated).toBe(true);
    const window = retireAfterMs(runtime.config.auth);
    expect(window).toBeLessThan(HOUR);
    expect(await runAt(new Date(forcedAt + window - 60_000))).toMatchObject({
      status: "succeeded",
      detail: "not due; retired 0",
    });
    expect(await stateOf(previous)).toBe("retiring");
    expect(await runAt(new Date(forcedAt + window + 60_000))).toMatchObject({
      status: "succeeded",
      detail: "not due; retired 1",
    });
    expect(await stateOf(previous)).toBe("retired");
    expect((await runtime.services.identity.keyRing.get()).verificationKeys.has(previous)).toBe(false);
  });

  test(
    "a retried trigger in the same slot is skipped, and a second " + "trigger the same day does not rotate again",
    async () => {
      const at = new Date(Date.now() + 10 * 24 * HOUR);
      expect((await runAt(at)).status).toBe("succeeded");
      expect(await runAt(at)).toEqual({ status: "skipped", reason: "already-claimed" });
      expect(await runAt(new Date(at.getTime() + 60_000))).toMatchObject({ detail: expect.stringMatching(/^not due/) });
      expect(DEFAULT_ROTATION_INTERVAL_MS).toBeGreaterThan(23 * HOUR);
    },
  );
});

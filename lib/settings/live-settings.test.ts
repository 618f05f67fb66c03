import { beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestStore, STORE_BACKENDS } from "../../test/backends.ts";
import { loadConfig } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import { createLogger, createMemorySink } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
import { UpstashStore } from "../store/upstash-store.ts";
import { createLiveSettings } from "./live-settings.ts";
import { type SettingsPatch, settingsFromConfig } from "./settings.ts";

const POLL_MS = 40;
const base = settingsFromConfig(loadConfig({ NODE_ENV: "test" }));

function openSource(store: Store, key: string, now?: () => number) {
  const sink = createMemorySink();
  const logger = createLogger({ sink: sink.sink });
  const settings = createLiveSettings({ store, logger, base, pollMs: POLL_MS, key, ...(now && { now }) });
  return { settings, records: sink.records };
}

/** A clock that moves only when told: a poll's age is then exact, whatever the machine's load. */
function manualClock() {
  let at = Date.now();
  return { now: () => at, advance: (ms: number) => void (at += ms) };
}

async function validationFields(update: Promise<unknown>): Promise<{ path: string; message: string }[]> {
  const error = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe("VALIDATION_FAILED");
  return ((error as AppError).details as { fields: { path: string; message: string }[] }).fields;
}

describe.each(STORE_BACKENDS)("live settings on %s", (backend) => {
  let store: Store;
  // Real Redis keeps state between runs: each test uses a key of its own.
  const freshKey = () => `test:settings:${crypto.randomUUID()}`;
  beforeAll(async () => {
    store = await openTestStore(backend);
  }, BACKEND_HOOK_TIMEOUT_MS);

  test(
    "when the store loses the settings (Redis restarted without " +
      "persistence), an instance that knew them puts them back",
    async () => {
      const key = freshKey();
      const survivor = openSource(store, key);
      await survivor.settings.update({ emergency: { enabled: true } }, "operator");
      await survivor.settings.update({ blocking: { threshold: 9 } }, "operator");
      await store.del(key, `${key}:head`, `${key}:v1`, `${key}:v2`);

      const late = openSource(store, key).settings;
      await late.poll();
      expect(late.current().emergency.enabled).toBe(false);

      await survivor.settings.poll();
      expect(
        survivor
          .records()
          .some((r) => r.level === "warn" && String(r.msg).includes("lost the shared settings") && r.version === 2),
      ).toBe(true);
      await late.poll();
      expect(late.current()).toMatchObject({ version: 2, emergency: { enabled: true }, blocking: { threshold: 9 } });
    },
  );

  test("until anything is stored, current() is the base from the configuration", async () => {
    const { settings } = openSource(store, freshKey());
    await settings.poll();
    expect(settings.current()).toEqual(base);
  });

  test(
    "update merges the patch section by section, bumps the version, " +
      "applies at once and logs old and new values with the actor",
    async () => {
      const { settings, records } = openSource(store, freshKey());
      const next = await settings.update(
        { blocking: { threshold: 7 }, emergency: { enabled: true } },
        "ops@example.com",
      );
      expect(next.version).toBe(1);
      expect(settings.current()).toBe(next);
      expect(next.blocking).toEqual({ ...base.blocking, threshold: 7 });
      expect(next.emergency).toEqual({ ...base.emergency, enabled: true });
      expect(next.timeoutsMs).toEqual(base.timeoutsMs);
      expect((await settings.update({ timeoutsMs: { read: 1_000 } }, "ops@example.com")).version).toBe(2);
      const changes = records().filter((r) => r.msg === "settings changed");
      expect(changes).toHaveLength(2);
      expect(changes[0]).toMatchObject({
        level: "info",
        actor: "ops@example.com",
        version: 1,
        old: { blocking: { threshold: base.blocking.threshold }, emergency: { enabled: false } },
        new: { blocking: { threshold: 7 }, emergency: { enabled: true } },
      });
      expect(Object.keys(changes[1]?.new as object)).toEqual(["timeoutsMs"]);
    },
  );

  test("an invalid patch is refused with the failing fields and nothing is applied or stored", async () => {
    const key = freshKey();
    const { settings } = openSource(store, key);
    await settings.update({ blocking: { threshold: 9 } }, "test");
    const before = settings.current();
    const invalid: unknown[] = [
      { blocking: { threshold: 0 } },
      { blocking: { threshold: 5, thresold: 5 } },
      { emergency: "on" },
      { cors: { origins: ["https://*.example.com"] } },
      { rateLimitOverrides: { "v1/auth": [] } },
      { version: 99 },
      { unknownSection: {} },
      JSON.parse('{"__proto__": {"polluted": true}}'),
    ];
    for (const patch of invalid) {
      const fields = await validationFields(settings.update(patch as SettingsPatch, "test"));
      expect(fields.length).toBeGreaterThan(0);
      for (const field of fields) expect(field.message).not.toContain("(was");
    }
    expect(
      (await validationFields(settings.update({ blocking: { threshold: -1 } }, "test"))).map((f) => f.path),
    ).toEqual(["blocking.threshold"]);
    expect(settings.current()).toBe(before);
    const other = openSource(store, key).settings;
    await other.poll();
    expect(other.current()).toEqual(before);
  });

  test("a change made through one instance reaches another once the poll interval has passed", async () => {
    const key = freshKey();
    const clock = manualClock();
    const writer = openSource(store, key).settings;
    const reader = openSource(store, key, clock.now).settings;
    await reader.poll();
    await writer.update({ emergency: { enabled: true } }, "test");
    clock.advance(POLL_MS - 1);
    expect(reader.pollIfStale()).toBeUndefined();
    expect(reader.current().emergency.enabled).toBe(false);
    clock.advance(1);
    await reader.pollIfStale();
    expect(reader.current().emergency.enabled).toBe(true);
    expect(reader.current().version).toBe(writer.current().version);
  });

  test("concurrent updates from two instances both land, in distinct versions, neither lost", async () => {
    const key = freshKey();
    const a = openSource(store, key).settings;
    const b = openSource(store, key).settings;
    const results = await Promise.all([
      a.update({ blocking: { threshold: 11 } }, "a"),
      b.update({ emergency: { limitDivisor: 3 } }, "b"),
      a.update({ timeoutsMs: { auth: 2_000 } }, "a"),
    ]);
    expect(results.map((r) => r.version).sort()).toEqual([1, 2, 3]);
    for (const settings of [a, b]) {
      await settings.poll();
      const current = settings.current();
      expect(current.version).toBe(3);
      expect([current.blocking.threshold, current.emergency.limitDivisor, current.timeoutsMs.auth]).toEqual([
        11, 3, 2_000,
      ]);
    }
  });

  test("an instance starting cold picks up the newest settings", async () => {
    const key = freshKey();
    const writer = openSource(store, key).settings;
    for (const threshold of [4, 5, 6]) await writer.update({ blocking: { threshold } }, "test");
    const cold = openSource(store, key).settings;
    await cold.poll();
    expect(cold.current()).toEqual(writer.current());
  });

  test(
    "a stored version that fails the schema is not applied: the last good " + "settings stay and it is logged once",
    async () => {
      const key = freshKey();
      const { settings, records } = openSource(store, key);
      await settings.update({ blocking: { threshold: 8 } }, "test");
      const good = settings.current();
      await store.set(
        `${key}:v2`,
        JSON.stringify({
          version: 2,
          settings: { ...good, blocking: { threshold: "lots" } },
          changedBy: "someone",
          changedAt: new Date().toISOString(),
        }),
      );
      for (let i = 0; i < 3; i++) await settings.poll();
      expect(settings.current()).toBe(good);
      expect(records().filter((r) => r.msg === "poll failed, keeping the last good state")).toHaveLength(1);
      // An operator's next change repairs it, merged over the last good settings.
      expect((await settings.update({ blocking: { windowMs: 30_000 } }, "test")).blocking).toEqual({
        ...good.blocking,
        windowMs: 30_000,
      });
      await settings.poll();
      expect(records().filter((r) => r.msg === "poll recovered")).toHaveLength(1);
    },
  );
});

describe("live settings when the store does not answer", () => {
  test("the base settings stay, the failure is logged once however many polls fail, and updates fail", async () => {
    const dead = new UpstashStore({ url: "http://127.0.0.1:9", token: "unused", timeoutMs: 100 });
    const { settings, records } = openSource(dead, "test:settings:dead");
    for (let i = 0; i < 3; i++) await settings.poll();
    expect(settings.current()).toBe(base);
    const failures = records().filter((r) => r.msg === "poll failed, keeping the last good state");
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ level: "warn", part: "settings" });
    expect(
      await settings.update({ emergency: { enabled: true } }, "test").then(
        () => "applied",
        () => "refused",
      ),
    ).toBe("refused");
    expect(settings.current()).toBe(base);
  });
});

describe("polling", () => {
  test(
    "pollIfStale polls only once the last poll is older than the interval, " + "and registered parts ride along",
    async () => {
      const store = await openTestStore("memory");
      const clock = manualClock();
      const { settings } = openSource(store, "test:settings:stale", clock.now);
      let refreshes = 0;
      settings.onPoll("counter", async () => {
        refreshes++;
      });
      await settings.pollIfStale();
      expect(refreshes).toBe(1);
      expect(settings.pollIfStale()).toBeUndefined();
      clock.advance(POLL_MS - 1);
      expect(settings.pollIfStale()).toBeUndefined();
      clock.advance(1);
      await settings.pollIfStale();
      expect(refreshes).toBe(2);
    },
  );

  test("start polls on a timer until stop", async () => {
    const store = await openTestStore("memory");
    const { settings } = openSource(store, "test:settings:timer");
    let refreshes = 0;
    settings.onPoll("counter", async () => {
      refreshes++;
    });
    settings.start();
    await Bun.sleep(POLL_MS * 3 + 20);
    settings.stop();
    const seen = refreshes;
    expect(seen).toBeGreaterThanOrEqual(3);
    await Bun.sleep(POLL_MS * 2);
    expect(refreshes).toBe(seen);
  });
});

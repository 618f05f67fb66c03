import { describe, expect, test } from "bun:test";
import { createLogger } from "../log/logger.ts";
import { createBreaker } from "../resilience/breaker.ts";
import { FallbackStore } from "./fallback-store.ts";
import { MemoryStore } from "./memory-store.ts";
import type { SetOptions, Store } from "./store.ts";
import { createVersionedDocument } from "./versioned-document.ts";

const KEY = "test:doc";
const instance = (store: MemoryStore, historyTtlMs?: number) =>
  createVersionedDocument({ store, key: KEY, field: "items", ...(historyTtlMs === undefined ? {} : { historyTtlMs }) });
// A store whose calls answer after a random pause, as Redis round trips do, so concurrent callers
// interleave differently each run.
const jittery = (memory: MemoryStore): MemoryStore => {
  const jitter = <T>(call: () => Promise<T>) => Bun.sleep(Math.random() * 2).then(call);
  return Object.assign(Object.create(memory) as MemoryStore, {
    get: (key: string) => jitter(() => memory.get(key)),
    set: (key: string, value: string, options?: SetOptions) => jitter(() => memory.set(key, value, options)),
    del: (...keys: string[]) => jitter(() => memory.del(...keys)),
  });
};
const appending = (item: string) => (latest: { value: unknown } | undefined) => [
  ...((latest?.value as string[] | undefined) ?? []),
  item,
];

describe("versioned document", () => {
  test(
    "writes from several instances at once each get their own version, " +
      "none is lost, and an instance starting afterwards sees the newest",
    async () => {
      for (let run = 0; run < 10; run++) {
        const store = jittery(new MemoryStore());
        const writers = [instance(store), instance(store), instance(store)];
        await Promise.all(
          writers.map(async (writer, w) => {
            for (const i of [0, 1, 2]) await writer.write(appending(`${w}-${i}`), `writer-${w}`);
          }),
        );
        const latest = await instance(store).latest();
        expect(latest?.version).toBe(9);
        expect([...((latest?.value ?? []) as string[])].sort()).toEqual([
          "0-0",
          "0-1",
          "0-2",
          "1-0",
          "1-1",
          "1-2",
          "2-0",
          "2-1",
          "2-2",
        ]);
      }
    },
  );

  test(
    "an instance that slept past the version keys' lifetime catches up " +
      "from the main key, and its write builds on the newest",
    async () => {
      // The store's clock: the version keys' lifetime passes when the test moves it.
      let time = Date.now();
      const store = new MemoryStore(() => time);
      const active = instance(store, 20);
      const sleeper = instance(store, 20);
      await active.write(appending("a"), "active");
      expect((await sleeper.latest())?.version).toBe(1);
      await active.write(appending("b"), "active");
      await active.write(appending("c"), "active");
      time += 20;
      expect(await store.get(`${KEY}:v2`)).toBeNull();
      expect(await sleeper.latest()).toMatchObject({ version: 3, value: ["a", "b", "c"] });
      const written = await sleeper.write(appending("d"), "sleeper");
      expect(written).toMatchObject({ version: 4, value: ["a", "b", "c", "d"] });
      expect(await instance(store).latest()).toMatchObject({ version: 4, value: ["a", "b", "c", "d"] });
      expect(await active.latest()).toMatchObject({ version: 4 });
    },
  );

  test(
    "after the store loses everything, the next poll of an instance that " +
      "knew the document puts it back for the others",
    async () => {
      const store = new MemoryStore();
      const restored: number[] = [];
      const survivor = createVersionedDocument({
        store,
        key: KEY,
        field: "items",
        onRestored: (doc) => restored.push(doc.version),
      });
      await survivor.write(appending("a"), "w");
      await survivor.write(appending("b"), "w");
      for (const key of [KEY, `${KEY}:head`, `${KEY}:v1`, `${KEY}:v2`]) await store.del(key);
      expect(await instance(store).latest()).toBeUndefined();

      expect(await survivor.latest()).toMatchObject({ version: 2, value: ["a", "b"] });
      expect(restored).toEqual([2]);
      expect(await instance(store).latest()).toMatchObject({ version: 2, value: ["a", "b"] });
      // Put back once: the next poll finds the store in step.
      await survivor.latest();
      expect(restored).toEqual([2]);
      expect(await instance(store).write(appending("c"), "w")).toMatchObject({ version: 3, value: ["a", "b", "c"] });
    },
  );

  test("an instance that knew an older version does not hold the store back from a newer one", async () => {
    const store = new MemoryStore();
    const behind = instance(store);
    const ahead = instance(store);
    await ahead.write(appending("a"), "w");
    expect((await behind.latest())?.version).toBe(1);
    await ahead.write(appending("b"), "w");
    for (const key of [KEY, `${KEY}:head`, `${KEY}:v1`, `${KEY}:v2`]) await store.del(key);
    // The instance behind puts back what it knew; the one ahead then puts back its newer state after it.
    await behind.latest();
    await ahead.latest();
    expect(await instance(store).latest()).toMatchObject({ version: 3, value: ["a", "b"] });
    expect(await behind.latest()).toMatchObject({ version: 3, value: ["a", "b"] });
  });

  test(
    "after the store loses everything and is written again by an instance " +
      "that never saw the older versions, the state from before is kept, or reconciled with the new write, " +
      "and every instance moves forward to it",
    async () => {
      const lose = async (store: MemoryStore) => {
        for (const key of [KEY, `${KEY}:head`, `${KEY}:v1`, `${KEY}:v2`, `${KEY}:v3`]) await store.del(key);
      };
      const store = new MemoryStore();
      const survivor = instance(store);
      for (const item of ["a", "b", "c"]) await survivor.write(appending(item), "w");
      await lose(store);
      const newcomer = instance(store);
      expect(await newcomer.write(appending("x"), "w")).toMatchObject({ version: 1, value: ["x"] });
      expect(await survivor.latest()).toMatchObject({ version: 4, value: ["a", "b", "c"] });
      expect(await newcomer.latest()).toMatchObject({ version: 4, value: ["a", "b", "c"] });

      const merging = new MemoryStore();
      const union = (ours: { value: unknown }, theirs: { value: unknown }) => [
        ...new Set([...(ours.value as string[]), ...(theirs.value as string[])]),
      ];
      const replaced: (number | undefined)[] = [];
      const keeper = createVersionedDocument({
        store: merging,
        key: KEY,
        field: "items",
        reconcile: union,
        onRestored: (_, theirs) => replaced.push(theirs?.version),
      });
      for (const item of ["a", "b", "c"]) await keeper.write(appending(item), "w");
      await lose(merging);
      await instance(merging).write(appending("x"), "w");
      expect(await keeper.latest()).toMatchObject({ version: 4, value: ["a", "b", "c", "x"] });
      expect(replaced).toEqual([1]);
      expect(await instance(merging).latest()).toMatchObject({ version: 4, value: ["a", "b", "c", "x"] });
      expect(await keeper.write(appending("y"), "w")).toMatchObject({ version: 5, value: ["a", "b", "c", "x", "y"] });
    },
  );

  test(
    "an instance that knew less putting back first, under the number of a " +
      "version it never saw, does not hide that version: every instance ends on the newest",
    async () => {
      const store = new MemoryStore();
      const [ahead, behind] = [instance(store), instance(store)];
      await ahead.write(appending("a"), "w");
      await ahead.write(appending("b"), "w");
      await behind.latest();
      await ahead.write(appending("c"), "w");
      for (const key of [KEY, `${KEY}:head`, `${KEY}:v1`, `${KEY}:v2`, `${KEY}:v3`]) await store.del(key);
      await instance(store).write(appending("x"), "w");

      // Behind knew v2: it puts back its own state as v3, the number of a version ahead holds.
      expect(await behind.latest()).toMatchObject({ version: 3, value: ["a", "b"] });
      expect(await ahead.latest()).toMatchObject({ version: 4, value: ["a", "b", "c"] });
      for (const reader of [behind, ahead, instance(store)])
        expect(await reader.latest()).toMatchObject({ version: 4, value: ["a", "b", "c"] });
    },
  );

  test("two instances putting back at once end with every instance on the same, newest state", async () => {
    for (let run = 0; run < 20; run++) {
      const store = jittery(new MemoryStore());
      const [ahead, behind] = [instance(store), instance(store)];
      await ahead.write(appending("a"), "w");
      await behind.latest();
      for (const item of ["b", "c", "d"]) await ahead.write(appending(item), "w");
      for (const key of [KEY, `${KEY}:head`, `${KEY}:v1`, `${KEY}:v2`, `${KEY}:v3`, `${KEY}:v4`]) await store.del(key);
      await instance(store).write(appending("x"), "w");

      await Promise.all(run % 2 === 0 ? [ahead.latest(), behind.latest()] : [behind.latest(), ahead.latest()]);
      const seen = [];
      for (const reader of [ahead, behind, instance(store)]) seen.push(await reader.latest());
      for (const doc of seen) expect(doc).toMatchObject({ version: seen[0]?.version, value: ["a", "b", "c", "d"] });
    }
  });

  test("while the store answers from its stand-in (Redis down), nothing is put back into it", async () => {
    const redis = new MemoryStore();
    let down = false;
    const failing = <T>(call: () => Promise<T>) => (down ? Promise.reject(new Error("connection refused")) : call());
    const flaky: Store = {
      kind: "upstash",
      get: (key) => failing(() => redis.get(key)),
      mget: (keys) => failing(() => redis.mget(keys)),
      set: (key, value, options) => failing(() => redis.set(key, value, options)),
      incr: (key, ttlMs) => failing(() => redis.incr(key, ttlMs)),
      incrShared: (key) => failing(() => redis.incrShared(key)),
      expire: (key, ttlMs) => failing(() => redis.expire(key, ttlMs)),
      ttl: (key) => failing(() => redis.ttl(key)),
      del: (...keys) => failing(() => redis.del(...keys)),
      incrementFields: (key, fields, ttlMs) => failing(() => redis.incrementFields(key, fields, ttlMs)),
      readFields: (key) => failing(() => redis.readFields(key)),
      spendBudget: (key, spend) => failing(() => redis.spendBudget(key, spend)),
      ping: () => failing(() => redis.ping()),
    };
    const quiet = createLogger({ sink: () => {} });
    const standIn = new MemoryStore();
    const store = new FallbackStore(flaky, createBreaker("redis", quiet, { consecutiveFailures: 100 }), quiet, standIn);
    const restored: number[] = [];
    const survivor = createVersionedDocument({
      store,
      key: KEY,
      field: "items",
      onRestored: (doc) => restored.push(doc.version),
    });
    await survivor.write(appending("a"), "w");
    await survivor.write(appending("b"), "w");

    down = true;
    expect(await survivor.latest()).toMatchObject({ version: 2, value: ["a", "b"] });
    expect(restored).toEqual([]);
    expect(await standIn.get(KEY)).toBeNull();
    down = false;
    expect(await survivor.latest()).toMatchObject({ version: 2, value: ["a", "b"] });
    expect(restored).toEqual([]);
  });

  test("a version claimed but not yet in the main key is still seen by readers", async () => {
    const store = new MemoryStore();
    await instance(store).write(appending("a"), "w");
    await store.set(
      `${KEY}:v2`,
      JSON.stringify({ version: 2, items: ["a", "b"], changedBy: "w", changedAt: new Date().toISOString() }),
    );
    expect(await instance(store).latest()).toMatchObject({ version: 2, value: ["a", "b"] });
  });
});

test("a poll that finds nothing new reads two small keys, never the document itself", async () => {
  const memory = new MemoryStore();
  await instance(memory).write(appending("a".repeat(10_000)), "writer");
  const reads: string[] = [];
  const counting = Object.assign(Object.create(memory) as MemoryStore, {
    get: (key: string) => {
      reads.push(key);
      return memory.get(key);
    },
  });
  const poller = instance(counting);
  expect((await poller.latest())?.version).toBe(1);
  reads.length = 0;
  expect((await poller.latest())?.version).toBe(1);
  expect(reads).toEqual([`${KEY}:head`, `${KEY}:v2`]);
});

import { expect, test } from "bun:test";
import { setBounded } from "./bounded-map.ts";

test("keeps at most maxEntries, dropping the entry set longest ago; setting a key again makes it the newest", () => {
  const map = new Map<string, number>();
  for (const [key, value] of [
    ["a", 1],
    ["b", 2],
    ["c", 3],
  ] as const)
    setBounded(map, key, value, 3);
  setBounded(map, "a", 10, 3);
  setBounded(map, "d", 4, 3);
  expect([...map.entries()]).toEqual([
    ["c", 3],
    ["a", 10],
    ["d", 4],
  ]);
  for (let i = 0; i < 1_000; i++) setBounded(map, `k${i}`, i, 3);
  expect(map.size).toBe(3);
});

import { beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestStore, STORE_BACKENDS } from "../../test/backends.ts";
import type { Store } from "../store/store.ts";
import { createSessionRevocations } from "./session-revocation.ts";

describe.each(STORE_BACKENDS)("session revocations on the %s store", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await openTestStore(backend);
  }, BACKEND_HOOK_TIMEOUT_MS);

  test(
    "another instance's revocation is seen once this instance's " + "not-revoked answer is negativeCacheMs old",
    async () => {
      let time = Date.now();
      const here = createSessionRevocations(store, 60_000, { negativeCacheMs: 1_000, now: () => time });
      const elsewhere = createSessionRevocations(store, 60_000);
      const sessionId = crypto.randomUUID();
      expect(await here.isRevoked(sessionId)).toBe(false);
      await elsewhere.revoke(sessionId);
      time += 999;
      expect(await here.isRevoked(sessionId)).toBe(false);
      time += 1;
      expect(await here.isRevoked(sessionId)).toBe(true);
    },
  );

  test("a revocation on this instance is seen here at once", async () => {
    const here = createSessionRevocations(store, 60_000);
    const sessionId = crypto.randomUUID();
    expect(await here.isRevoked(sessionId)).toBe(false);
    await here.revoke(sessionId);
    expect(await here.isRevoked(sessionId)).toBe(true);
  });
});

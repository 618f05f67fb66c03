import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { users } from "../db/schema/index.ts";
import { createOperatorCheck, isOperator, setOperator } from "./operators.ts";

const ADMIN = { type: "admin", id: "admin" } as const;

describe("the operator check", () => {
  let runtime: TestRuntime;
  const newUser = async () => {
    const [row] = await runtime.db.primary
      .insert(users)
      .values({ email: `${crypto.randomUUID()}@example.com`, passwordHash: "x" })
      .returning({ id: users.id });
    return (row as { id: string }).id;
  };

  beforeAll(async () => {
    runtime = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  // The real lookup, whose first answer is read at once but handed over only when the test says.
  const heldLookup = () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let firstRead = () => {};
    const read = new Promise<void>((resolve) => (firstRead = resolve));
    let calls = 0;
    const lookup = async (userId: string) => {
      const answer = await isOperator(runtime.db.primary, userId);
      if (++calls === 1) {
        firstRead();
        await released;
      }
      return answer;
    };
    return { lookup, release, read };
  };

  test(
    "a check that starts after a revocation never answers yes, even while " + "one from before it is still running",
    async () => {
      const held = heldLookup();
      const check = createOperatorCheck(held.lookup);
      const userId = await newUser();
      await setOperator(runtime, userId, true, ADMIN);
      const before = check.isOperator(userId);
      await held.read;
      await setOperator(runtime, userId, false, ADMIN);
      const after = check.isOperator(userId);
      held.release();
      expect(await before).toBe(true);
      expect(await after).toBe(false);
    },
  );

  test(
    "a no read just before a grant is not remembered after it: the new " +
      "operator gets in at once on the granting instance",
    async () => {
      const held = heldLookup();
      const check = createOperatorCheck(held.lookup);
      const userId = await newUser();
      const before = check.isOperator(userId);
      await held.read;
      await setOperator(runtime, userId, true, ADMIN);
      check.forget(userId);
      held.release();
      expect(await before).toBe(false);
      expect(await check.isOperator(userId)).toBe(true);
    },
  );

  test("a no is remembered: many checks of a non-operator cost one query", async () => {
    const check = runtime.services.operators;
    const userId = await newUser();
    const answers = await Promise.all(Array.from({ length: 20 }, () => check.isOperator(userId)));
    expect(answers).toEqual(Array<boolean>(20).fill(false));
    // Granted by hand, behind the check's back: the remembered no still stands on this instance.
    await runtime.db.primary.update(users).set({ platformRole: "operator" }).where(eq(users.id, userId));
    expect(await check.isOperator(userId)).toBe(false);
  });

  test("a remembered no lasts refusalTtlMs: a grant made elsewhere is seen once it has passed", async () => {
    let time = Date.now();
    const lookup = (userId: string) => isOperator(runtime.db.primary, userId);
    const check = createOperatorCheck(lookup, { refusalTtlMs: 1_000, now: () => time });
    const userId = await newUser();
    expect(await check.isOperator(userId)).toBe(false);
    // Granted through another instance: this one's check is not told.
    await runtime.db.primary.update(users).set({ platformRole: "operator" }).where(eq(users.id, userId));
    time += 999;
    expect(await check.isOperator(userId)).toBe(false);
    time += 1;
    expect(await check.isOperator(userId)).toBe(true);
  });
});

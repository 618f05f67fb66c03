import { describe, expect, test } from "bun:test";
import { createPasswordHasher, DEFAULT_PASSWORD_HASHING } from "./password-hashing.ts";

const CHEAP = { memoryCost: 1_024, timeCost: 1 };

describe("password hashing", () => {
  const hasher = createPasswordHasher(CHEAP);

  test("should hash with argon2id at the configured cost, salted, and verify only the same password", async () => {
    const first = await hasher.hash("correct horse battery");
    const second = await hasher.hash("correct horse battery");
    expect(first).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
    expect(first).not.toBe(second);
    expect(await hasher.verify("correct horse battery", first)).toBe(true);
    expect(await hasher.verify("correct horse batterY", first)).toBe(false);
  });

  test("should treat canonically equivalent spellings as one password (NFKC)", async () => {
    const composed = await hasher.hash("caf\u00e9 au lait, s'il vous pla\u00eet");
    expect(await hasher.verify("cafe\u0301 au lait, s'il vous pla\u00eet", composed)).toBe(true);
  });

  test("should ask for a rehash only of hashes made at another cost", async () => {
    expect(hasher.needsRehash(await hasher.hash("a password of mine"))).toBe(false);
    expect(
      createPasswordHasher({ memoryCost: 2_048, timeCost: 1 }).needsRehash(await hasher.hash("a password of mine")),
    ).toBe(true);
  });

  test("should refuse every password against the dummy hash", async () => {
    expect(await hasher.verifyAgainstDummy("correct horse battery")).toBe(false);
    expect(await createPasswordHasher().verifyAgainstDummy("")).toBe(false);
  });

  test("should spend as long on the dummy hash as on a real verification at the production cost", async () => {
    const production = createPasswordHasher(DEFAULT_PASSWORD_HASHING);
    const stored = await production.hash("correct horse battery");
    // CPU time, not wall time: on a loaded machine a hash preempted midway would look slower than it is.
    const time = async (work: () => Promise<boolean>) => {
      const started = process.cpuUsage();
      await work();
      const { user, system } = process.cpuUsage(started);
      return user + system;
    };
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 4; i++) {
      real.push(await time(() => production.verify("wrong horse battery", stored)));
      dummy.push(await time(() => production.verifyAgainstDummy("wrong horse battery")));
    }
    const ratio = Math.min(...dummy) / Math.min(...real);
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.4);
    // Nine hashes at the production cost: over bun's 5 s default on a loaded 2-core machine.
  }, 30_000);
});

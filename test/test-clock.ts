/**
 * A clock for a runtime shared by many tests: it follows the real time until a test moves it, then
 * stands still where moved, so ages are exact whatever the machine's load, until reset.
 */
export interface TestClock {
  now(): number;
  advance(ms: number): void;
  /** Back to the real time: a test that moved the clock of a shared runtime puts it back for the next one. */
  reset(): void;
}

export function createTestClock(): TestClock {
  let stoppedAt: number | undefined;
  const now = () => stoppedAt ?? Date.now();
  return {
    now,
    advance: (ms) => void (stoppedAt = now() + ms),
    reset: () => void (stoppedAt = undefined),
  };
}

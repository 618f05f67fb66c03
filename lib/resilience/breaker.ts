/**
 * Circuit breakers for outbound dependencies, on cockatiel (dependency-free, web-standard, well kept):
 * after consecutive failures calls fail fast, then one probe is let through after `halfOpenAfterMs`.
 */
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import type { Logger } from "../log/logger.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";

export interface BreakerOptions {
  consecutiveFailures: number;
  halfOpenAfterMs: number;
  /** Which errors count as the dependency failing; others pass through without touching the breaker. */
  isFailure: (error: unknown) => boolean;
}

export const DEFAULT_BREAKER_OPTIONS: BreakerOptions = {
  consecutiveFailures: 3,
  halfOpenAfterMs: 2_000,
  isFailure: () => true,
};

export type BreakerState = "closed" | "open" | "half-open";

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "open",
};

export interface Breaker {
  readonly name: string;
  readonly state: BreakerState;
  execute<T>(call: () => Promise<T>): Promise<T>;
}

export function createBreaker(name: string, logger: Logger, options: Partial<BreakerOptions> = {}): Breaker {
  const { consecutiveFailures, halfOpenAfterMs, isFailure } = { ...DEFAULT_BREAKER_OPTIONS, ...options };
  const policy = circuitBreaker(handleWhen(isFailure), {
    halfOpenAfter: halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(consecutiveFailures),
  });
  // Outbound breakers are one per host: their metrics share one name, so a client's hosts add no series.
  const dependency = name.startsWith("http:") ? "outbound" : name;
  const metrics = metricsRegistry();
  const timing = metrics.series("dependency", { name: dependency });
  const changedTo = (state: BreakerState) => metrics.series("breaker", { name: dependency, state });
  const [opened, halfOpened, closed] = [changedTo("open"), changedTo("half-open"), changedTo("closed")];
  policy.onBreak(() => {
    opened.add();
    logger.warn("circuit opened", { dependency: name });
  });
  policy.onHalfOpen(() => halfOpened.add());
  policy.onReset(() => {
    closed.add();
    logger.info("circuit closed", { dependency: name });
  });
  return {
    name,
    get state() {
      return STATE_NAMES[policy.state];
    },
    async execute(call) {
      const started = performance.now();
      try {
        return await policy.execute(call);
      } finally {
        timing.observe(performance.now() - started);
      }
    },
  };
}

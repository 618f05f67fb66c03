/**
 * A per-connection token bucket for messages a client sends: kept in process (a store round trip per
 * message would cost more than the message), refilled continuously, `burst` deep.
 */
export interface MessageRateOptions {
  /** Messages a second a client may keep sending. @default 20 */
  perSecond: number;
  /** Messages it may send at once. @default 40 */
  burst: number;
}

export const DEFAULT_MESSAGE_RATE: MessageRateOptions = { perSecond: 20, burst: 40 };

/** Returns a function that takes one token and says whether there was one. */
export function createMessageBucket(options: MessageRateOptions, now: () => number = () => performance.now()) {
  const { perSecond, burst } = options;
  let tokens = burst;
  let refilledAt = now();
  return (): boolean => {
    const at = now();
    tokens = Math.min(burst, tokens + ((at - refilledAt) / 1000) * perSecond);
    refilledAt = at;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

/** What one rate-limit check answers, whatever algorithm or backend produced it. */
export interface LimitResult {
  success: boolean;
  limit: number;
  remaining: number;
  /** Epoch milliseconds at which the window frees up. */
  reset: number;
}

export interface WindowLimiter {
  limit(identifier: string, limit: number, windowMs: number): Promise<LimitResult>;
}

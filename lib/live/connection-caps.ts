/**
 * Open streams per user (or key) and per client address, counted across instances in the store: a hash
 * per subject with one field per instance, so a count is the sum over instances.
 *
 * A crashed instance never takes its connections off: they count until the subject's hash expires,
 * `COUNT_TTL_MS` after its last open or close anywhere.
 */
import type { Store } from "../store/store.ts";

const COUNT_PREFIX = "rampart:live-connections:";
const COUNT_TTL_MS = 10 * 60_000;

export interface ConnectionCapOptions {
  /** Streams one user or key may hold open at once. @default 20 */
  perSubject: number;
  /** Streams one client address may hold open at once. @default 50 */
  perIp: number;
}

export const DEFAULT_CONNECTION_CAPS: ConnectionCapOptions = { perSubject: 20, perIp: 50 };

export interface ConnectionLease {
  release(): Promise<void>;
}

const sum = (fields: Record<string, number>) => Object.values(fields).reduce((total, count) => total + count, 0);

export function createConnectionCaps(store: Store, instanceId: string, options: ConnectionCapOptions) {
  const change = (keys: readonly string[], by: number) =>
    Promise.all(keys.map((key) => store.incrementFields(key, { [instanceId]: by }, COUNT_TTL_MS)));
  return {
    /**
     * Counts one more stream for `subject` and `ip`; undefined, and nothing counted, when either is at its cap.
     * Two opening at once may both be refused near the cap, never both admitted over it.
     */
    async acquire(subject: string, ip: string | undefined): Promise<ConnectionLease | undefined> {
      const caps: [string, number][] = [[`${COUNT_PREFIX}subject:${subject}`, options.perSubject]];
      if (ip !== undefined) caps.push([`${COUNT_PREFIX}ip:${ip}`, options.perIp]);
      const keys = caps.map(([key]) => key);
      await change(keys, 1);
      const counts = await Promise.all(keys.map((key) => store.readFields(key)));
      if (caps.some(([, cap], i) => sum(counts[i] ?? {}) > cap)) {
        await change(keys, -1);
        return undefined;
      }
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await change(keys, -1);
        },
      };
    },
  };
}

export type ConnectionCaps = ReturnType<typeof createConnectionCaps>;

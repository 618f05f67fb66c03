/**
 * The Redis fast path for duplicate deliveries; PostgreSQL's unique (source, external id) stays the truth.
 *
 * 1. A marker is written only once PostgreSQL has refused a delivery as a duplicate, so it always names a
 *    committed row: a marker never answers for a delivery whose INSERT could still fail.
 * 2. A delivery with a marker is answered as a duplicate from that one read, without an INSERT.
 * 3. A new delivery costs the one read (a miss) and its INSERT; the first duplicate also writes the marker.
 * 4. A store that fails reads as "not seen": the delivery goes to PostgreSQL, which decides alone.
 */
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";

export const SEEN_DELIVERY_PREFIX = "rampart:webhook-seen:";

export interface SeenDeliveriesOptions {
  /** How long a marker answers for its delivery; shorter than the inbox keeps ids. @default 86_400_000 */
  ttlMs: number;
}

export const DEFAULT_SEEN_DELIVERIES: SeenDeliveriesOptions = { ttlMs: 86_400_000 };

export interface SeenDeliveries {
  /** True when PostgreSQL already holds this delivery, as a marker says; false when unsure. */
  wasSeen(sourceId: string, externalId: string): Promise<boolean>;
  /** Call only after PostgreSQL refused the delivery as a duplicate (step 1). */
  markSeen(sourceId: string, externalId: string): Promise<void>;
}

export function createSeenDeliveries(
  store: Store,
  logger: Logger,
  options: Partial<SeenDeliveriesOptions> = {},
): SeenDeliveries {
  const { ttlMs } = { ...DEFAULT_SEEN_DELIVERIES, ...options };
  const keyOf = (sourceId: string, externalId: string) => `${SEEN_DELIVERY_PREFIX}${sourceId}:${externalId}`;
  const unavailable = (error: unknown) => logger.warn("webhook duplicate fast path unavailable", { error });
  return {
    wasSeen: (sourceId, externalId) =>
      store.get(keyOf(sourceId, externalId)).then(
        (marker) => marker !== null,
        (error: unknown) => {
          unavailable(error);
          return false;
        },
      ),
    markSeen: (sourceId, externalId) =>
      store.set(keyOf(sourceId, externalId), "1", { ttlMs }).then(() => undefined, unavailable),
  };
}

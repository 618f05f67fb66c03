/**
 * Tickets open a stream where no Authorization header can be sent (a browser's WebSocket). A ticket is 32
 * random bytes, kept in the store only as its SHA-256 for `TICKET_TTL_MS`, bound to one grant, its scopes and
 * the Origin it was asked from, and used at most once: the store's DEL decides which of two racing uses wins.
 */
import { sha256Hex } from "../crypto/sha256.ts";
import type { Store } from "../store/store.ts";
import type { StreamGrant } from "./stream-grant.ts";

export const TICKET_TTL_MS = 30_000;
const TICKET_PREFIX = "lt_";
const TICKET_KEY_PREFIX = "rampart:live-ticket:";
// 32 bytes in unpadded base64url.
const TICKET_SHAPE = /^lt_[A-Za-z0-9_-]{43}$/;

export interface TicketClaims {
  readonly grant: StreamGrant;
  readonly scopes: readonly string[];
  /** The Origin header of the request that asked for it; null for a client that sent none (not a browser). */
  readonly origin: string | null;
  readonly expiresAt: number;
}

export function isTicketShaped(value: string): boolean {
  return TICKET_SHAPE.test(value);
}

/** A new ticket for `claims`, valid `TICKET_TTL_MS` from `nowMs`. */
export async function issueTicket(store: Store, claims: Omit<TicketClaims, "expiresAt">, nowMs: number) {
  const ticket = TICKET_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  const stored: TicketClaims = { ...claims, expiresAt: nowMs + TICKET_TTL_MS };
  await store.set(TICKET_KEY_PREFIX + sha256Hex(ticket), JSON.stringify(stored), { ttlMs: TICKET_TTL_MS });
  return { ticket, expiresAt: stored.expiresAt };
}

/** The ticket's claims, once: undefined when it is malformed, unknown, already used or expired at `nowMs`. */
export async function redeemTicket(store: Store, ticket: string, nowMs: number): Promise<TicketClaims | undefined> {
  if (!isTicketShaped(ticket)) return undefined;
  const key = TICKET_KEY_PREFIX + sha256Hex(ticket);
  const stored = await store.get(key);
  if (stored === null || (await store.del(key)) !== 1) return undefined;
  const claims = JSON.parse(stored) as TicketClaims;
  return claims.expiresAt > nowMs ? claims : undefined;
}

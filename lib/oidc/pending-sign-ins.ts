/**
 * A sign-in between its start and its callback: the PKCE verifier and the nonce, kept in the store under the
 * `state` the provider echoes back, and bound to the browser that started it by a cookie only that browser holds.
 *
 * 1. Start: random state, nonce, verifier and binding; the entry holds the binding's hash, the cookie the binding.
 * 2. Callback: the entry is read by state, its binding compared with the cookie's, then deleted: whoever's DEL
 *    removed it is the one caller that may go on (single use across instances), and only then is its age checked.
 */
import { randomBytes } from "node:crypto";
import { secretsEqual } from "../auth/constant-time.ts";
import { sha256Hex } from "../crypto/sha256.ts";
import { AppError } from "../errors/app-error.ts";
import type { Store } from "../store/store.ts";

export interface PendingSignIn {
  provider: string;
  codeVerifier: string;
  nonce: string;
  /** SHA-256 of the browser binding; the binding itself is only in the cookie. */
  bindingHash: string;
  /** Epoch ms, by the runtime's clock. */
  startedAt: number;
}

export interface PendingSignInOptions {
  /** How long a started sign-in may take to come back; the cookie lives as long. */
  ttlMs: number;
}

export const DEFAULT_PENDING_SIGN_IN_OPTIONS: PendingSignInOptions = { ttlMs: 10 * 60_000 };

export const BINDING_COOKIE = "rampart_oidc";

const keyOf = (state: string) => `oidc:pending:${sha256Hex(state)}`;
const random = () => randomBytes(32).toString("base64url");
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The state, nonce and verifier of a new sign-in, stored; the binding goes in the browser's cookie. */
export async function startPendingSignIn(
  store: Store,
  provider: string,
  now: number,
  { ttlMs }: PendingSignInOptions,
): Promise<{ state: string; binding: string; pending: PendingSignIn }> {
  const state = random();
  const binding = random();
  const pending = {
    provider,
    codeVerifier: random(),
    nonce: random(),
    bindingHash: sha256Hex(binding),
    startedAt: now,
  };
  await store.set(keyOf(state), JSON.stringify(pending), { ttlMs });
  return { state, binding, pending };
}

const invalid = (message?: string) => new AppError("OIDC_STATE_INVALID", message);

/**
 * Takes the sign-in `state` names out of the store, once.
 * @throws OIDC_STATE_INVALID for an unknown, used, expired or other browser's state, or another provider's.
 */
export async function consumePendingSignIn(
  store: Store,
  input: { provider: string; state: string | undefined; binding: string | undefined; now: number },
  { ttlMs }: PendingSignInOptions,
): Promise<PendingSignIn> {
  const { state, binding } = input;
  if (state === undefined || !STATE_PATTERN.test(state)) throw invalid();
  const stored = await store.get(keyOf(state));
  if (stored === null) throw invalid();
  const pending = JSON.parse(stored) as PendingSignIn;
  // Another browser's callback (a link an attacker sent) leaves the entry for its own browser to finish.
  if (
    binding === undefined ||
    !secretsEqual(sha256Hex(binding), pending.bindingHash) ||
    pending.provider !== input.provider
  )
    throw invalid();
  if ((await store.del(keyOf(state))) !== 1) throw invalid();
  if (input.now - pending.startedAt > ttlMs) throw invalid("This sign-in has expired; start it again.");
  return pending;
}

/** The cookie binding a sign-in to this browser; `Lax` so the provider's top-level redirect back carries it. */
export function bindingCookie(binding: string, { ttlMs }: PendingSignInOptions, secure: boolean): string {
  const attributes = `Path=/v1/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(ttlMs / 1000)}`;
  return `${BINDING_COOKIE}=${binding}; ${attributes}${secure ? "; Secure" : ""}`;
}

/** Clears the binding cookie once its sign-in has been used. */
export function clearedBindingCookie(secure: boolean): string {
  return `${BINDING_COOKIE}=; Path=/v1/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0${secure ? "; Secure" : ""}`;
}

/** The binding from a Cookie header, or undefined. */
export function bindingFrom(cookieHeader: string | null): string | undefined {
  if (cookieHeader === null) return undefined;
  for (const part of cookieHeader.split(";")) {
    const [name, value] = part.trim().split("=", 2);
    if (name === BINDING_COOKIE && value !== undefined && STATE_PATTERN.test(value)) return value;
  }
  return undefined;
}

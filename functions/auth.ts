/**
 * Sign-up, login, token refresh, logout, the caller's sessions and password change. Login and sign-up
 * refuse (503) rather than fall back when the shared rate-limit store is down.
 */
import { Elysia } from "elysia";
import type { IssuedAccessToken } from "../lib/auth/access-tokens.ts";
import { changePassword, logIn, type SignedIn, signUp } from "../lib/auth/accounts.ts";
import { loginBody, passwordChangeBody, signupBody } from "../lib/auth/credentials.ts";
import { sendVerificationLink } from "../lib/auth/email-verification.ts";
import {
  createPasswordHasher,
  DEFAULT_PASSWORD_HASHING,
  type PasswordHashingOptions,
} from "../lib/auth/password-hashing.ts";
import { logOut, REFRESH_TOKEN_PATTERN, rotateRefreshToken } from "../lib/auth/refresh-tokens.ts";
import { listLiveSessions, revokeOwnSession } from "../lib/auth/sessions.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { RECENT_SIGN_IN } from "../lib/core/policy-presets.ts";
import type { RateLimitRule, UserPolicy } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { createEmailRateLimit } from "../lib/guards/rate-limit/email-rate-limit.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import { createFirstAttemptSender } from "../lib/webhooks/first-attempts.ts";
import type { OutboundDeliveryOptions } from "../lib/webhooks/outbound-delivery.ts";

const CREDENTIALS_BODY_BYTES = 4 * 1024;

const SIGNUP: UserPolicy = {
  rateLimits: [
    { name: "burst", limit: 5, window: "1m", scope: "ip", onStoreFailure: "closed" },
    { name: "sustained", limit: 30, window: "1h", scope: "ip", onStoreFailure: "closed" },
  ],
  bodyLimitBytes: CREDENTIALS_BODY_BYTES,
  timeout: "auth",
  humanVerification: "in-emergency",
  // An account with the address already exists.
  errors: ["CONFLICT"],
};

const LOGIN: UserPolicy = {
  rateLimits: [
    { name: "burst", limit: 10, window: "1m", scope: "ip", onStoreFailure: "closed" },
    { name: "sustained", limit: 100, window: "1h", scope: "ip", onStoreFailure: "closed" },
  ],
  bodyLimitBytes: CREDENTIALS_BODY_BYTES,
  timeout: "auth",
  humanVerification: "in-emergency",
  // With EMAIL_VERIFICATION_REQUIRED, the right password of an unverified account.
  errors: ["EMAIL_NOT_VERIFIED"],
};

// Applied by the handler once the body names the account, before any password work. Counting every
// attempt, not only failures, lets anyone lock an address out for a while: the price of stopping a
// guessing campaign spread over many addresses.
const LOGIN_PER_EMAIL: readonly RateLimitRule[] = [
  { name: "email", limit: 10, window: "15m", scope: "email", onStoreFailure: "closed" },
];

// Not challenged, nor logout: a refresh token is a 256-bit secret no one can guess, and clients refresh in the
// background, where no one could solve a challenge; every signed-in user would be logged out by emergency mode.
const REFRESH: UserPolicy = {
  rateLimits: [{ name: "refresh", limit: 30, window: "1m", scope: "ip" }],
  bodyLimitBytes: 1024,
  timeout: "auth",
};

const LOGOUT: UserPolicy = { ...REFRESH, rateLimits: [{ name: "logout", limit: 30, window: "1m", scope: "ip" }] };

const LIST_SESSIONS: UserPolicy = {
  rateLimits: [{ name: "sessions", limit: 60, window: "1m", scope: "user" }],
  bodyLimitBytes: 0,
  timeout: "auth",
};

const REVOKE_SESSION: UserPolicy = {
  ...LIST_SESSIONS,
  rateLimits: [{ name: "revoke", limit: 30, window: "1m", scope: "user" }],
};

// Each attempt costs two argon2 runs, and a stolen access token must not be a way to guess the password.
const CHANGE_PASSWORD: UserPolicy = {
  rateLimits: [{ name: "password", limit: 5, window: "15m", scope: "user", onStoreFailure: "closed" }],
  recentAuth: RECENT_SIGN_IN,
  bodyLimitBytes: CREDENTIALS_BODY_BYTES,
  timeout: "auth",
};

const refreshBody = lazySchema(({ type }) => type({ "+": "reject", refreshToken: REFRESH_TOKEN_PATTERN }));
const sessionParams = lazySchema(({ type }) => type({ id: "string.uuid" }));

export interface AuthRouteOptions {
  passwordHashing: PasswordHashingOptions;
  /** The first attempts of the session webhooks a revocation sends (tests allow loopback). */
  outbound: Partial<OutboundDeliveryOptions>;
}

export const DEFAULT_AUTH_ROUTE_OPTIONS: AuthRouteOptions = { passwordHashing: DEFAULT_PASSWORD_HASHING, outbound: {} };

/** The auth route group; tests pass a cheaper password hashing cost. */
export function createAuthRoutes(options: Partial<AuthRouteOptions> = {}): RouteGroup {
  const { passwordHashing, outbound } = { ...DEFAULT_AUTH_ROUTE_OPTIONS, ...options };
  return defineRouteGroup("auth", (runtime) => {
    const hasher = createPasswordHasher(passwordHashing);
    const sendFirstAttempts = createFirstAttemptSender(runtime, outbound);
    const committed = (orgIds: readonly string[]) => orgIds.forEach(sendFirstAttempts);
    const limitLoginsPerEmail = createEmailRateLimit(runtime, "POST /v1/auth/login", LOGIN_PER_EMAIL);
    const { auth } = runtime.config;

    // The access token was signed before the session's transaction committed (accounts.ts, refresh-tokens.ts).
    const tokensFor = (
      user: { id: string; email: string },
      session: { refreshToken: string; accessToken: IssuedAccessToken },
    ) => ({
      accessToken: session.accessToken.token,
      refreshToken: session.refreshToken,
      expiresIn: session.accessToken.expiresIn,
      user: { id: user.id, email: user.email },
    });
    const tokensOf = ({ account, session, accessToken }: SignedIn) => tokensFor(account, { ...session, accessToken });

    return (
      new Elysia({ name: "auth" })
        .use(policyPlugin)
        .post(
          "/v1/auth/signup",
          async ({ body, request, set }) => {
            const signedIn = await signUp(runtime, hasher, body, request);
            // Its own transaction: an account whose link failed to issue asks for another one.
            await sendVerificationLink(runtime, { userId: signedIn.account.id, email: signedIn.account.email });
            set.status = 201;
            return tokensOf(signedIn);
          },
          { public: SIGNUP, body: signupBody },
        )
        .post(
          "/v1/auth/login",
          async ({ body, request }) => {
            await limitLoginsPerEmail(request, body.email);
            const outcome = await logIn(runtime, hasher, body, request);
            // An account with a second factor gets its challenge token, not a session (functions/mfa.ts).
            return "mfaRequired" in outcome ? outcome : tokensOf(outcome);
          },
          { public: LOGIN, body: loginBody },
        )
        .post(
          "/v1/auth/refresh",
          async ({ body, request }) => {
            const rotated = await rotateRefreshToken(runtime, body.refreshToken, request, committed);
            return tokensFor({ id: rotated.userId, email: rotated.email }, rotated);
          },
          { public: REFRESH, body: refreshBody },
        )
        // Logout takes the refresh token, not the access token: it works after the access token has
        // expired, and a client that lost its access token can still end the session.
        .post(
          "/v1/auth/logout",
          async ({ body, request, set }) => {
            await logOut(runtime, body.refreshToken, request, committed);
            set.status = 204;
          },
          { public: LOGOUT, body: refreshBody },
        )
        .get(
          "/v1/auth/sessions",
          async ({ user }) => {
            const sessions = await listLiveSessions(runtime.db.primary, auth, user.userId);
            return { sessions: sessions.map((session) => ({ ...session, current: session.id === user.sessionId })) };
          },
          { user: LIST_SESSIONS },
        )
        .delete(
          "/v1/auth/sessions/:id",
          async ({ params, request, set, user }) => {
            // Another user's session answers exactly like one that does not exist.
            if (!(await revokeOwnSession(runtime, user, params.id, request, committed)))
              throw new AppError("NOT_FOUND", "No such session.");
            set.status = 204;
          },
          { user: REVOKE_SESSION, params: sessionParams },
        )
        .post(
          "/v1/auth/password",
          async ({ body, request, user }) =>
            tokensOf(await changePassword(runtime, hasher, { userId: user.userId, ...body }, request)),
          { user: CHANGE_PASSWORD, body: passwordChangeBody },
        )
    );
  });
}

export default createAuthRoutes();

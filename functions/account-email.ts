/**
 * The account's e-mail: verification links (sent at sign-up, on request and on a change of address) and
 * password reset. Requests that name an address answer 202 whether or not an account has it.
 */
import { Elysia } from "elysia";
import { EMAIL_TOKEN_PATTERN } from "../lib/auth/email-tokens.ts";
import {
  findUnverifiedAccount,
  requestEmailChange,
  sendVerificationLink,
  verifyEmail,
} from "../lib/auth/email-verification.ts";
import {
  createPasswordHasher,
  DEFAULT_PASSWORD_HASHING,
  type PasswordHashingOptions,
} from "../lib/auth/password-hashing.ts";
import { MAX_EMAIL_LENGTH, normaliseEmail } from "../lib/auth/password-policy.ts";
import { requestPasswordReset, resetPassword } from "../lib/auth/password-reset.ts";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import { perIp, perUser } from "../lib/core/policy-presets.ts";
import type { RateLimitRule, UserPolicy } from "../lib/core/route-policy.ts";
import { createAccountRateLimit } from "../lib/guards/rate-limit/account-rate-limit.ts";
import { createEmailRateLimit } from "../lib/guards/rate-limit/email-rate-limit.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";

const SMALL_BODY = 4 * 1024;

// Each request may send mail: per client address here, per named address and per account in the handler.
const MAIL_REQUEST: UserPolicy = {
  rateLimits: [
    perIp(5, "1m", { name: "burst", onStoreFailure: "closed" }),
    perIp(30, "1h", { name: "sustained", onStoreFailure: "closed" }),
  ],
  bodyLimitBytes: SMALL_BODY,
  timeout: "auth",
  humanVerification: "in-emergency",
};

// Counted whatever the address: an unknown one must be refused exactly when a known one would be.
const PER_ADDRESS: readonly RateLimitRule[] = [
  { name: "email", limit: 3, window: "15m", scope: "email", onStoreFailure: "closed" },
  { name: "email-day", limit: 10, window: "1d", scope: "email", onStoreFailure: "closed" },
];
// Silent: past it a known account gets no more mail, and the answer stays the same.
const PER_ACCOUNT: readonly RateLimitRule[] = [
  { name: "account", limit: 5, window: "1h", scope: "user", onStoreFailure: "closed" },
];

// A token is 256 bits: guessing is hopeless, the limit only keeps a flood off the database.
const SPEND_LINK: UserPolicy = {
  rateLimits: [perIp(20, "1m", { name: "link", onStoreFailure: "closed" })],
  bodyLimitBytes: SMALL_BODY,
  timeout: "auth",
  errors: ["TOKEN_INVALID", "CONFLICT"],
};

// Costs an argon2 run, and a stolen access token must not be a way to guess the password.
const CHANGE_EMAIL: UserPolicy = {
  rateLimits: [perUser(5, "15m", { name: "email-change", onStoreFailure: "closed" })],
  bodyLimitBytes: SMALL_BODY,
  timeout: "auth",
  errors: ["CONFLICT"],
};

const emailAddress = ({ type }: Arktype) =>
  type("string").pipe(normaliseEmail).to(`string.email <= ${MAX_EMAIL_LENGTH}`);
const token = ({ type }: Arktype) => type(EMAIL_TOKEN_PATTERN);

const addressBody = lazySchema((ark) => ark.type({ "+": "reject", email: emailAddress(ark) }));
const tokenBody = lazySchema((ark) => ark.type({ "+": "reject", token: token(ark) }));
const resetBody = lazySchema((ark) => ark.type({ "+": "reject", token: token(ark), newPassword: "string" }));
const changeBody = lazySchema((ark) =>
  ark.type({ "+": "reject", email: emailAddress(ark), currentPassword: "0 < string <= 1024" }),
);

const ACCEPTED = { accepted: true } as const;

export interface AccountEmailRouteOptions {
  passwordHashing: PasswordHashingOptions;
  /** Requests naming one address, known or not; a test lifts it to reach the per-account limit behind it. */
  perAddress: readonly RateLimitRule[];
}

export function createAccountEmailRoutes(options: Partial<AccountEmailRouteOptions> = {}): RouteGroup {
  const { passwordHashing, perAddress } = {
    passwordHashing: DEFAULT_PASSWORD_HASHING,
    perAddress: PER_ADDRESS,
    ...options,
  };
  return defineRouteGroup("account-email", (runtime) => {
    const hasher = createPasswordHasher(passwordHashing);
    const limitVerificationAddress = createEmailRateLimit(runtime, "POST /v1/auth/email/verification", perAddress);
    const limitVerificationAccount = createAccountRateLimit(runtime, "POST /v1/auth/email/verification", PER_ACCOUNT);
    const limitResetAddress = createEmailRateLimit(runtime, "POST /v1/auth/password-reset/request", perAddress);
    const limitResetAccount = createAccountRateLimit(runtime, "POST /v1/auth/password-reset/request", PER_ACCOUNT);

    return new Elysia({ name: "account-email" })
      .use(policyPlugin)
      .post(
        "/v1/auth/email/verification",
        async ({ body, request, set }) => {
          await limitVerificationAddress(request, body.email);
          const account = await findUnverifiedAccount(runtime.db.primary, body.email);
          if (account !== undefined && (await limitVerificationAccount(request, account.userId)))
            await sendVerificationLink(runtime, { userId: account.userId, email: body.email });
          set.status = 202;
          return ACCEPTED;
        },
        { public: MAIL_REQUEST, body: addressBody },
      )
      .post("/v1/auth/email/verify", async ({ body, request }) => verifyEmail(runtime, body.token, request), {
        public: SPEND_LINK,
        body: tokenBody,
      })
      .post(
        "/v1/auth/email/change",
        async ({ body, request, set, user }) => {
          await requestEmailChange(runtime, hasher, { userId: user.userId, ...body }, request);
          set.status = 202;
          return ACCEPTED;
        },
        { user: CHANGE_EMAIL, body: changeBody },
      )
      .post(
        "/v1/auth/password-reset/request",
        async ({ body, request, set }) => {
          await limitResetAddress(request, body.email);
          await requestPasswordReset(runtime, body.email, (userId) => limitResetAccount(request, userId), request);
          set.status = 202;
          return ACCEPTED;
        },
        { public: MAIL_REQUEST, body: addressBody },
      )
      .post("/v1/auth/password-reset", async ({ body, request }) => resetPassword(runtime, hasher, body, request), {
        public: { ...SPEND_LINK, errors: ["TOKEN_INVALID"] },
        body: resetBody,
      });
  });
}

export default createAccountEmailRoutes();

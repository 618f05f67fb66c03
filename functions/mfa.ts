/**
 * Second factors: TOTP enrolment, recovery codes and passkeys for the signed-in user; the second step of a
 * login and the password-less passkey sign-in; and step-up (`/v1/auth/reauthenticate`), which routes declaring
 * `recentAuth` send a user to.
 */
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { Elysia } from "elysia";
import type { IssuedAccessToken } from "../lib/auth/access-tokens.ts";
import { findActiveAccount, type SignedIn } from "../lib/auth/accounts.ts";
import { CHALLENGE_TOKEN_PATTERN, readChallenge } from "../lib/auth/auth-challenges.ts";
import {
  confirmTotp,
  enrolTotp,
  mfaStatusOf,
  regenerateRecoveryCodes,
  removeTotpAudited,
} from "../lib/auth/mfa-enrolment.ts";
import { completeMfaWithCode, reauthenticate, signInWithPasskey } from "../lib/auth/mfa-sign-in.ts";
import {
  finishPasskeyRegistration,
  removePasskey,
  startPasskeyAuthentication,
  startPasskeyRegistration,
} from "../lib/auth/passkeys.ts";
import {
  createPasswordHasher,
  DEFAULT_PASSWORD_HASHING,
  type PasswordHashingOptions,
} from "../lib/auth/password-hashing.ts";
import { RECOVERY_CODE_PATTERN } from "../lib/auth/recovery-codes.ts";
import { TOTP_CODE_PATTERN } from "../lib/auth/totp.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { perIp, perUser, RECENT_SIGN_IN } from "../lib/core/policy-presets.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";

// A WebAuthn answer is a few hundred bytes to a few KiB (attestation certificates, extensions).
const CEREMONY_BODY_BYTES = 16 * 1024;
const CODE_BODY_BYTES = 1024;

// Per address, besides the per-account lock-out on wrong codes: a guesser holding many challenge tokens.
const SECOND_STEP: UserPolicy = {
  rateLimits: [
    perIp(10, "1m", { name: "burst", onStoreFailure: "closed" }),
    perIp(100, "1h", { name: "sustained", onStoreFailure: "closed" }),
  ],
  bodyLimitBytes: CEREMONY_BODY_BYTES,
  timeout: "auth",
  errors: ["MFA_CODE_INVALID", "MFA_LOCKED"],
};
const PASSKEY_OPTIONS: UserPolicy = {
  rateLimits: [perIp(30, "1m", { name: "options" })],
  bodyLimitBytes: CODE_BODY_BYTES,
  timeout: "auth",
};
const MFA_READ: UserPolicy = { rateLimits: [perUser(60, "1m")], body: "none", timeout: "read" };
// Adding a factor to a stolen session would lock its owner out: it needs a recent sign-in too.
const MFA_CHANGE: UserPolicy = {
  rateLimits: [perUser(10, "1m", { name: "mfa-change" })],
  bodyLimitBytes: CODE_BODY_BYTES,
  timeout: "auth",
  recentAuth: RECENT_SIGN_IN,
  errors: ["CONFLICT"],
};
const CONFIRM_TOTP: UserPolicy = {
  ...MFA_CHANGE,
  rateLimits: [perUser(10, "1m", { name: "confirm", onStoreFailure: "closed" })],
  errors: ["CONFLICT", "MFA_CODE_INVALID", "MFA_LOCKED"],
};
const REAUTHENTICATE: UserPolicy = {
  rateLimits: [perUser(10, "15m", { name: "reauthenticate", onStoreFailure: "closed" })],
  bodyLimitBytes: CEREMONY_BODY_BYTES,
  timeout: "auth",
  errors: ["MFA_CODE_INVALID", "MFA_LOCKED"],
};

const codeBody = lazySchema(({ type }) => type({ "+": "reject", code: TOTP_CODE_PATTERN }));
const secondStepBody = lazySchema(({ type }) =>
  type({ "+": "reject", challengeToken: CHALLENGE_TOKEN_PATTERN, code: TOTP_CODE_PATTERN }).or({
    "+": "reject",
    challengeToken: CHALLENGE_TOKEN_PATTERN,
    recoveryCode: RECOVERY_CODE_PATTERN,
  }),
);
const ceremonyAnswer = { ceremonyToken: CHALLENGE_TOKEN_PATTERN, response: "object" } as const;
const registrationBody = lazySchema(({ type }) =>
  type({ "+": "reject", ...ceremonyAnswer, "name?": "0 < string <= 64" }),
);
const authenticationOptionsBody = lazySchema(({ type }) =>
  type({ "+": "reject", "challengeToken?": CHALLENGE_TOKEN_PATTERN }),
);
const passkeySignInBody = lazySchema(({ type }) =>
  type({ "+": "reject", ...ceremonyAnswer, "challengeToken?": CHALLENGE_TOKEN_PATTERN }),
);
const reauthenticateBody = lazySchema(({ type }) =>
  type({ "+": "reject", password: "0 < string <= 1024" })
    .or({ "+": "reject", code: TOTP_CODE_PATTERN })
    .or({ "+": "reject", recoveryCode: RECOVERY_CODE_PATTERN })
    .or({ "+": "reject", passkey: type({ "+": "reject", ...ceremonyAnswer }) }),
);
const passkeyParams = lazySchema(({ type }) => type({ id: /^[A-Za-z0-9_-]{1,1400}$/ }));

export interface MfaRouteOptions {
  /** Step-up by password verifies it at this cost (tests pass a cheaper one). */
  passwordHashing: PasswordHashingOptions;
}

export const DEFAULT_MFA_ROUTE_OPTIONS: MfaRouteOptions = { passwordHashing: DEFAULT_PASSWORD_HASHING };

export function createMfaRoutes(options: Partial<MfaRouteOptions> = {}): RouteGroup {
  const { passwordHashing } = { ...DEFAULT_MFA_ROUTE_OPTIONS, ...options };
  return defineRouteGroup("mfa", (runtime) => {
    const hasher = createPasswordHasher(passwordHashing);
    const tokensOf = ({ account, session, accessToken }: SignedIn) => ({
      accessToken: accessToken.token,
      refreshToken: session.refreshToken,
      expiresIn: accessToken.expiresIn,
      user: { id: account.id, email: account.email },
    });
    const accessTokenOf = (issued: IssuedAccessToken) => ({ accessToken: issued.token, expiresIn: issued.expiresIn });
    const accountOf = async (userId: string) => {
      const account = await findActiveAccount(runtime, userId);
      if (account === undefined) throw new AppError("UNAUTHORIZED");
      return account;
    };

    return new Elysia({ name: "mfa" })
      .use(policyPlugin)
      .get("/v1/auth/mfa", ({ user }) => mfaStatusOf(runtime.db.primary, user.userId), { user: MFA_READ })
      .post(
        "/v1/auth/mfa/totp",
        async ({ set, user }) => {
          const enrolment = await enrolTotp(runtime, await accountOf(user.userId));
          set.status = 201;
          return enrolment;
        },
        { user: { ...MFA_CHANGE, body: "none" } },
      )
      .post(
        "/v1/auth/mfa/totp/confirm",
        ({ body, request, user }) => confirmTotp(runtime, user.userId, body.code, request),
        { user: CONFIRM_TOTP, body: codeBody },
      )
      .delete(
        "/v1/auth/mfa/totp",
        async ({ request, set, user }) => {
          if (!(await removeTotpAudited(runtime, user.userId, request)))
            throw new AppError("NOT_FOUND", "TOTP is not enabled.");
          set.status = 204;
        },
        { user: { ...MFA_CHANGE, body: "none", errors: ["NOT_FOUND"] } },
      )
      .post(
        "/v1/auth/mfa/recovery-codes",
        ({ request, user }) => regenerateRecoveryCodes(runtime, user.userId, request),
        { user: { ...MFA_CHANGE, body: "none" } },
      )
      .post(
        "/v1/auth/mfa/verify",
        async ({ body, request }) => {
          const proof = "code" in body ? { code: body.code } : { recoveryCode: body.recoveryCode };
          return tokensOf(await completeMfaWithCode(runtime, body.challengeToken, proof, request));
        },
        { public: SECOND_STEP, body: secondStepBody },
      )
      .post(
        "/v1/auth/reauthenticate",
        async ({ body, request, user }) => {
          const proof =
            "passkey" in body
              ? {
                  passkey: {
                    ceremonyToken: body.passkey.ceremonyToken,
                    response: body.passkey.response as unknown as AuthenticationResponseJSON,
                  },
                }
              : body;
          return accessTokenOf(await reauthenticate(runtime, hasher, user, proof, request));
        },
        { user: REAUTHENTICATE, body: reauthenticateBody },
      )
      .post(
        "/v1/auth/passkeys/registration-options",
        async ({ user }) => startPasskeyRegistration(runtime, await accountOf(user.userId)),
        { user: { ...MFA_CHANGE, body: "none" } },
      )
      .post(
        "/v1/auth/passkeys",
        async ({ body, request, set, user }) => {
          const registered = await finishPasskeyRegistration(
            runtime,
            user.userId,
            { ...body, response: body.response as unknown as RegistrationResponseJSON },
            request,
          );
          set.status = 201;
          return registered;
        },
        { user: { ...MFA_CHANGE, bodyLimitBytes: CEREMONY_BODY_BYTES }, body: registrationBody },
      )
      .delete(
        "/v1/auth/passkeys/:id",
        async ({ params, request, set, user }) => {
          if (!(await removePasskey(runtime, user.userId, params.id, request)))
            throw new AppError("NOT_FOUND", "No such passkey.");
          set.status = 204;
        },
        { user: { ...MFA_CHANGE, body: "none" }, params: passkeyParams },
      )
      .post(
        "/v1/auth/passkeys/authentication-options",
        async ({ body }) => {
          if (body.challengeToken === undefined) return startPasskeyAuthentication(runtime, null);
          // A second step: only the account's own passkeys are offered, and only while its challenge lives.
          const pending = await readChallenge(runtime.db.primary, "mfa_login", body.challengeToken, runtime.now());
          if (pending?.userId == null)
            throw new AppError("UNAUTHORIZED", "The sign-in challenge is unknown, used or expired.");
          return startPasskeyAuthentication(runtime, pending.userId);
        },
        { public: PASSKEY_OPTIONS, body: authenticationOptionsBody },
      )
      .post(
        "/v1/auth/passkeys/sign-in",
        async ({ body, request }) => {
          const proof = {
            ceremonyToken: body.ceremonyToken,
            response: body.response as unknown as AuthenticationResponseJSON,
          };
          return tokensOf(await signInWithPasskey(runtime, proof, body.challengeToken, request));
        },
        { public: { ...SECOND_STEP, errors: [] }, body: passkeySignInBody },
      );
  });
}

export default createMfaRoutes();

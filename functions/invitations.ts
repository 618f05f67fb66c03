/**
 * Invitations to an organization by e-mail: admins invite, list and revoke; the invited accept signed in (with
 * the invited address, verified) or sign up through the link.
 */
import { Elysia } from "elysia";
import { EMAIL_TOKEN_PATTERN } from "../lib/auth/email-tokens.ts";
import {
  createPasswordHasher,
  DEFAULT_PASSWORD_HASHING,
  type PasswordHashingOptions,
} from "../lib/auth/password-hashing.ts";
import { MAX_EMAIL_LENGTH, normaliseEmail } from "../lib/auth/password-policy.ts";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import { ORG_ROLES } from "../lib/core/org-roles.ts";
import { perIp, perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import {
  acceptInvitation,
  inviteMember,
  listInvitations,
  revokeInvitation,
  signUpWithInvitation,
} from "../lib/orgs/invitations.ts";
import { createFirstAttemptSender } from "../lib/webhooks/first-attempts.ts";

const ADMIN = { param: "orgId", role: "admin" } as const;

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const invitationParams = lazySchema(({ type }) => type({ orgId: "string.uuid", invitationId: "string.uuid" }));
const token = ({ type }: Arktype) => type(EMAIL_TOKEN_PATTERN);
const inviteBody = lazySchema((ark) =>
  ark.type({
    "+": "reject",
    email: ark.type("string").pipe(normaliseEmail).to(`string.email <= ${MAX_EMAIL_LENGTH}`),
    role: ark.type.enumerated(...ORG_ROLES),
  }),
);
const acceptBody = lazySchema((ark) => ark.type({ "+": "reject", token: token(ark) }));
const signupBody = lazySchema((ark) => ark.type({ "+": "reject", token: token(ark), password: "string" }));

export function createInvitationRoutes(passwordHashing: PasswordHashingOptions = DEFAULT_PASSWORD_HASHING): RouteGroup {
  return defineRouteGroup("invitations", (runtime) => {
    const hasher = createPasswordHasher(passwordHashing);
    const sendFirstAttempts = createFirstAttemptSender(runtime);
    return new Elysia({ name: "invitations" })
      .use(policyPlugin)
      .post(
        "/v1/orgs/:orgId/invitations",
        async ({ body, org, request, set, user }) => {
          const invitation = await inviteMember(runtime, user.userId, org.id, body, request);
          set.status = 201;
          return invitation;
        },
        {
          // Each one sends an e-mail to an address the caller chose.
          user: { ...WRITE, rateLimits: [perUser(20, "1h", { name: "invite" })], errors: ["CONFLICT"] },
          org: ADMIN,
          params: orgParams,
          body: inviteBody,
        },
      )
      .get(
        "/v1/orgs/:orgId/invitations",
        async ({ org }) => ({ invitations: await listInvitations(runtime.db.primary, org.id, runtime.now()) }),
        { user: { ...READ, rateLimits: [perUser(300, "1m")] }, org: ADMIN, params: orgParams },
      )
      .delete(
        "/v1/orgs/:orgId/invitations/:invitationId",
        async ({ org, params, request, set, user }) => {
          await revokeInvitation(runtime, user.userId, org.id, params.invitationId, request);
          set.status = 204;
        },
        { user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m")] }, org: ADMIN, params: invitationParams },
      )
      .post(
        "/v1/invitations/accept",
        async ({ body, request, user }) => {
          const joined = await acceptInvitation(runtime, user.userId, body.token, request);
          sendFirstAttempts(joined.orgId);
          return joined;
        },
        {
          user: {
            ...WRITE,
            rateLimits: [perUser(20, "1m")],
            timeout: "auth",
            errors: ["TOKEN_INVALID", "EMAIL_NOT_VERIFIED", "CONFLICT"],
          },
          body: acceptBody,
        },
      )
      .post(
        "/v1/invitations/signup",
        async ({ body, request, set }) => {
          const { account, session, accessToken, membership } = await signUpWithInvitation(
            runtime,
            hasher,
            body,
            request,
          );
          sendFirstAttempts(membership.orgId);
          set.status = 201;
          return {
            accessToken: accessToken.token,
            refreshToken: session.refreshToken,
            expiresIn: accessToken.expiresIn,
            user: { id: account.id, email: account.email },
            membership,
          };
        },
        {
          // The same limits as sign-up: each one is an argon2 run.
          public: {
            ...WRITE,
            rateLimits: [
              perIp(5, "1m", { name: "burst", onStoreFailure: "closed" }),
              perIp(30, "1h", { name: "sustained", onStoreFailure: "closed" }),
            ],
            timeout: "auth",
            humanVerification: "in-emergency",
            errors: ["TOKEN_INVALID", "CONFLICT"],
          },
          body: signupBody,
        },
      );
  });
}

export default createInvitationRoutes();

/**
 * Sign-in with OpenID Connect providers (and GitHub's OAuth): the configured providers, the start that sends the
 * browser to one, and the callback that answers the same token pair a password login does.
 */
import { Elysia } from "elysia";
import {
  createPasswordHasher,
  DEFAULT_PASSWORD_HASHING,
  type PasswordHashingOptions,
} from "../lib/auth/password-hashing.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { perIp, READ } from "../lib/core/policy-presets.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import { signInWithIdentity } from "../lib/oidc/oidc-sign-in.ts";
import {
  bindingCookie,
  bindingFrom,
  clearedBindingCookie,
  consumePendingSignIn,
  DEFAULT_PENDING_SIGN_IN_OPTIONS,
  type PendingSignInOptions,
  startPendingSignIn,
} from "../lib/oidc/pending-sign-ins.ts";
import {
  createProviderClient,
  DEFAULT_PROVIDER_CLIENT_OPTIONS,
  type ProviderClient,
  type ProviderClientOptions,
} from "../lib/oidc/provider-client.ts";

const PROVIDERS: UserPolicy = { ...READ, rateLimits: [perIp(60, "1m")] };

// Each start writes a store entry that lives ten minutes.
const START: UserPolicy = { ...READ, rateLimits: [perIp(30, "1m")], errors: ["NOT_FOUND", "DEPENDENCY_UNAVAILABLE"] };

// Opens sessions like a login, so limited like one; its calls to the provider need more than the auth deadline.
const CALLBACK: UserPolicy = {
  body: "none",
  timeout: "write",
  rateLimits: [
    { name: "burst", limit: 10, window: "1m", scope: "ip", onStoreFailure: "closed" },
    { name: "sustained", limit: 100, window: "1h", scope: "ip", onStoreFailure: "closed" },
  ],
  errors: ["NOT_FOUND", "OIDC_STATE_INVALID", "OIDC_SIGN_IN_FAILED", "OIDC_EMAIL_UNVERIFIED", "DEPENDENCY_UNAVAILABLE"],
};

const providerParams = lazySchema(({ type }) => type({ provider: "'google' | 'microsoft' | 'github' | 'oidc'" }));
// Providers add their own parameters (scope, authuser, session_state…); only these are read.
const callbackQuery = lazySchema(({ type }) =>
  type({ "code?": "string <= 2048", "state?": "string <= 256", "error?": "string <= 256", "iss?": "string <= 2048" }),
);

export interface OidcRouteOptions {
  passwordHashing: PasswordHashingOptions;
  pendingSignIns: PendingSignInOptions;
  providerClient: Partial<ProviderClientOptions>;
}

export const DEFAULT_OIDC_ROUTE_OPTIONS: OidcRouteOptions = {
  passwordHashing: DEFAULT_PASSWORD_HASHING,
  pendingSignIns: DEFAULT_PENDING_SIGN_IN_OPTIONS,
  providerClient: DEFAULT_PROVIDER_CLIENT_OPTIONS,
};

/** The OIDC route group; tests pass a cheaper password hashing cost. */
export function createOidcRoutes(options: Partial<OidcRouteOptions> = {}): RouteGroup {
  const settings = { ...DEFAULT_OIDC_ROUTE_OPTIONS, ...options };
  return defineRouteGroup("oidc", (runtime) => {
    const { oidc } = runtime.config;
    const hasher = createPasswordHasher(settings.passwordHashing);
    const clients = new Map<string, ProviderClient>(
      oidc.providers.map((provider) => [
        provider.id,
        createProviderClient(provider, oidc, runtime.logger, settings.providerClient),
      ]),
    );
    const listed = { providers: oidc.providers.map(({ id, name }) => ({ id, name })) };
    const secureCookie = oidc.redirectBaseUrl.startsWith("https:");
    const clientOf = (id: string) => {
      const client = clients.get(id);
      if (client === undefined) throw new AppError("NOT_FOUND", "No such sign-in provider.");
      return client;
    };

    return new Elysia({ name: "oidc" })
      .use(policyPlugin)
      .get("/v1/auth/oidc/providers", () => listed, { public: PROVIDERS })
      .get(
        "/v1/auth/oidc/:provider/start",
        async ({ params, set }) => {
          const client = clientOf(params.provider);
          const started = await startPendingSignIn(
            runtime.store,
            client.provider.id,
            runtime.now(),
            settings.pendingSignIns,
          );
          const authorizationUrl = (await client.authorizationUrl(started.state, started.pending)).href;
          set.status = 302;
          set.headers.location = authorizationUrl;
          set.headers["set-cookie"] = bindingCookie(started.binding, settings.pendingSignIns, secureCookie);
          return { authorizationUrl };
        },
        { public: START, params: providerParams },
      )
      .get(
        "/v1/auth/oidc/:provider/callback",
        async ({ params, query, request, set }) => {
          const client = clientOf(params.provider);
          // Used or refused, the binding is spent: the browser starts over with a fresh one.
          set.headers["set-cookie"] = clearedBindingCookie(secureCookie);
          const pending = await consumePendingSignIn(
            runtime.store,
            {
              provider: client.provider.id,
              state: query.state,
              binding: bindingFrom(request.headers.get("cookie")),
              now: runtime.now(),
            },
            settings.pendingSignIns,
          );
          const callback = new URL(request.url).searchParams;
          const identity = await client.verifyCallback(callback, query.state ?? "", pending);
          const signedIn = await signInWithIdentity(runtime, hasher, client.provider.id, identity, request);
          return {
            accessToken: signedIn.accessToken.token,
            refreshToken: signedIn.session.refreshToken,
            expiresIn: signedIn.accessToken.expiresIn,
            user: { id: signedIn.account.id, email: signedIn.account.email },
            outcome: signedIn.outcome,
          };
        },
        { public: CALLBACK, params: providerParams, query: callbackQuery },
      );
  });
}

export default createOidcRoutes();

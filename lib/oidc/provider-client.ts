/**
 * One sign-in provider through oauth4webapi: the authorization URL (code flow, PKCE S256, state, nonce), and the
 * callback's code exchanged and verified. OIDC providers' ID tokens are checked for issuer, audience, expiry and
 * nonce, and their signature against the provider's JWKS; GitHub, which issues no ID token, is asked its user API.
 * Every call goes through the outbound client (a breaker per host, a deadline).
 */
import * as oauth from "oauth4webapi";
import type { OidcConfig, OidcProviderConfig } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";
import { createOutboundFetch } from "../resilience/outbound-fetch.ts";
import { fetchGitHubIdentity } from "./github-identity.ts";
import type { PendingSignIn } from "./pending-sign-ins.ts";

/** Who the provider says signed in. `issuer` and `subject` identify them; the e-mail only suggests a match. */
export interface VerifiedIdentity {
  issuer: string;
  subject: string;
  /** Normalised (trimmed, lower-cased); undefined when the provider gave none. */
  email: string | undefined;
  emailVerified: boolean;
}

export interface ProviderClient {
  readonly provider: OidcProviderConfig;
  authorizationUrl(state: string, pending: PendingSignIn): Promise<URL>;
  /** @throws OIDC_SIGN_IN_FAILED when the provider refused or its answer does not verify; 503 when it is down. */
  verifyCallback(callback: URLSearchParams, state: string, pending: PendingSignIn): Promise<VerifiedIdentity>;
}

export interface ProviderClientOptions {
  /** Deadline of one call to the provider, below the callback's own. */
  timeoutMs: number;
  /** How long discovered metadata is reused before it is fetched again. */
  metadataTtlMs: number;
}

export const DEFAULT_PROVIDER_CLIENT_OPTIONS: ProviderClientOptions = { timeoutMs: 4_000, metadataTtlMs: 3_600_000 };

const SCOPES = { oidc: "openid email", github: "read:user user:email" } as const;

const unavailable = () =>
  new AppError("DEPENDENCY_UNAVAILABLE", "The identity provider is unavailable; try again shortly.", undefined, {
    "retry-after": "5",
  });

function isProtocolError(error: unknown): boolean {
  return (
    error instanceof oauth.OperationProcessingError ||
    error instanceof oauth.ResponseBodyError ||
    error instanceof oauth.AuthorizationResponseError ||
    error instanceof oauth.WWWAuthenticateChallengeError
  );
}

/** Microsoft Entra says whether the domain owner vouches for the address in `xms_edov`, not `email_verified`. */
const isTrue = (value: unknown) => value === true || value === "true";

export function createProviderClient(
  provider: OidcProviderConfig,
  oidc: OidcConfig,
  logger: Logger,
  options: Partial<ProviderClientOptions> = {},
): ProviderClient {
  const { timeoutMs, metadataTtlMs } = { ...DEFAULT_PROVIDER_CLIENT_OPTIONS, ...options };
  const outbound = createOutboundFetch(logger, { timeoutMs, throwOnRetryableStatus: true });
  const fetchOptions = {
    [oauth.customFetch]: (
      url: string,
      { body, headers, method, redirect, signal }: oauth.CustomFetchOptions<string, unknown>,
    ) => outbound(url, { body: body as BodyInit | undefined, headers, method, redirect, signal }),
    [oauth.allowInsecureRequests]: oidc.allowHttp,
  };
  const redirectUri = `${oidc.redirectBaseUrl}/v1/auth/oidc/${provider.id}/callback`;
  const client: oauth.Client = { client_id: provider.clientId };
  const issuer = new URL(provider.issuer);
  // The JWKS is fetched once and again only when a token names a key it lacks (rotation).
  const jwksCache: oauth.JWKSCacheInput = {};
  let metadata: { as: Promise<oauth.AuthorizationServer>; fetchedAt: number } | undefined;

  const discover = async (): Promise<oauth.AuthorizationServer> => {
    if (provider.kind === "github")
      return {
        issuer: provider.issuer,
        authorization_endpoint: `${provider.issuer}/login/oauth/authorize`,
        token_endpoint: `${provider.issuer}/login/oauth/access_token`,
      };
    const response = await oauth.discoveryRequest(issuer, { ...fetchOptions, algorithm: "oidc" });
    return oauth.processDiscoveryResponse(issuer, response);
  };

  const authorizationServer = (): Promise<oauth.AuthorizationServer> => {
    const now = Date.now();
    if (metadata === undefined || now - metadata.fetchedAt > metadataTtlMs) {
      const as = discover();
      metadata = { as, fetchedAt: now };
      // A failed discovery is not kept: the next sign-in tries again.
      as.catch(() => {
        if (metadata?.as === as) metadata = undefined;
      });
    }
    return metadata.as.catch((error: unknown) => {
      logger.warn("oidc discovery failed", { provider: provider.id, error: describe(error) });
      throw unavailable();
    });
  };

  const clientAuthFor = (as: oauth.AuthorizationServer): oauth.ClientAuth => {
    // Discovery's default when the list is absent is client_secret_basic (OpenID Connect Discovery 1.0, §3).
    const methods = as.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
    return provider.kind === "oidc" && methods.includes("client_secret_basic")
      ? oauth.ClientSecretBasic(provider.clientSecret)
      : oauth.ClientSecretPost(provider.clientSecret);
  };

  // The code and the PKCE verifier go to the token endpoint with the client's credentials.
  const exchangeCode = (as: oauth.AuthorizationServer, params: URLSearchParams, pending: PendingSignIn) =>
    oauth.authorizationCodeGrantRequest(
      as,
      client,
      clientAuthFor(as),
      params,
      redirectUri,
      pending.codeVerifier,
      fetchOptions,
    );

  const verifyOidc = async (
    as: oauth.AuthorizationServer,
    params: URLSearchParams,
    pending: PendingSignIn,
  ): Promise<VerifiedIdentity> => {
    const response = await exchangeCode(as, params, pending);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: pending.nonce,
      requireIdToken: true,
    });
    // The token came straight from the provider over TLS, but the issue asks for the signature too: a proxy or
    // a mix-up between providers must not be able to hand us claims the issuer never signed.
    await oauth.validateApplicationLevelSignature(as, response, { ...fetchOptions, [oauth.jwksCache]: jwksCache });
    const idToken = oauth.getValidatedIdTokenClaims(tokens);
    if (idToken === undefined) throw new oauth.OperationProcessingError("no ID token");
    let claims: Record<string, unknown> = idToken;
    // Many providers put the e-mail only in the UserInfo answer to a code flow; it must name the same subject.
    if (typeof idToken.email !== "string" && as.userinfo_endpoint !== undefined) {
      const userInfo = await oauth.userInfoRequest(as, client, tokens.access_token, fetchOptions);
      claims = { ...(await oauth.processUserInfoResponse(as, client, idToken.sub, userInfo)), ...idToken };
    }
    return {
      issuer: idToken.iss,
      subject: idToken.sub,
      email: typeof claims.email === "string" ? claims.email.trim().toLowerCase() : undefined,
      emailVerified: isTrue(claims.email_verified) || isTrue(claims.xms_edov),
    };
  };

  const verifyGitHub = async (
    as: oauth.AuthorizationServer,
    params: URLSearchParams,
    pending: PendingSignIn,
  ): Promise<VerifiedIdentity> => {
    const response = await exchangeCode(as, params, pending);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    const identity = await fetchGitHubIdentity(outbound, provider.apiUrl, tokens.access_token);
    return { issuer: provider.issuer, ...identity };
  };

  return {
    provider,
    async authorizationUrl(state, pending) {
      const as = await authorizationServer();
      if (as.authorization_endpoint === undefined) throw unavailable();
      const url = new URL(as.authorization_endpoint);
      const params = {
        client_id: provider.clientId,
        redirect_uri: redirectUri,
        response_type: "code",
        scope: SCOPES[provider.kind],
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(pending.codeVerifier),
        code_challenge_method: "S256",
        ...(provider.kind === "oidc" && { nonce: pending.nonce }),
      };
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
      return url;
    },
    async verifyCallback(callback, state, pending) {
      const as = await authorizationServer();
      try {
        // Checks `state` again, and `iss` where the provider sends it (RFC 9207: no mix-up between providers).
        const params = oauth.validateAuthResponse(as, client, callback, state);
        return await (provider.kind === "github" ? verifyGitHub : verifyOidc)(as, params, pending);
      } catch (error) {
        if (error instanceof AppError) throw error;
        logger.warn("oidc sign-in refused", { provider: provider.id, error: describe(error) });
        if (isProtocolError(error)) throw new AppError("OIDC_SIGN_IN_FAILED");
        throw unavailable();
      }
    },
  };
}

/** What a log line may say about a failure: its kind, code and message, never a response body or token. */
function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { kind: typeof error };
  const code = (error as { code?: unknown }).code;
  const oauthError = (error as { error?: unknown }).error;
  return {
    name: error.name,
    message: error.message.slice(0, 200),
    ...(typeof code === "string" && { code }),
    ...(typeof oauthError === "string" && { oauthError: oauthError.slice(0, 64) }),
  };
}

/**
 * A real OpenID provider on loopback for the sign-in tests: the `oidc-provider` package (the certified Node.js
 * implementation) with its development login and consent pages, which `signInAt` fills in like a browser would.
 * Its users are whoever the test names, with the e-mail claims the test gives them.
 */
import type { Server } from "node:http";
import Provider from "oidc-provider";
import { freePort } from "./free-port.ts";

export interface ProviderUser {
  email: string;
  email_verified: boolean;
}

export interface LocalOidcProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Users by subject; a test adds its own. */
  readonly users: Map<string, ProviderUser>;
  /**
   * Issues ID tokens to another client of this provider instead: what a mixed-up or compromised provider
   * configuration would hand back.
   */
  issueIdTokensTo: string | undefined;
  /**
   * Rewrites the ID token in the token endpoint's answer after the provider signed it: what a proxy or a forger
   * between the provider and us would hand back. Discovery and the JWKS stay the provider's own.
   */
  tamperIdTokens: ((idToken: string) => Promise<string>) | undefined;
  /** Follows `authorizationUrl` through the provider's login and consent as `subject`; the redirect back to us. */
  signInAt(authorizationUrl: string, subject: string): Promise<URL>;
  close(): Promise<void>;
}

export const OTHER_CLIENT_ID = "another-app";

export async function startLocalOidcProvider(redirectUri: string): Promise<LocalOidcProvider> {
  const port = freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const users = new Map<string, ProviderUser>();
  const clientSecret = "local-provider-secret-0123456789abcdef";
  const provider = new Provider(issuer, {
    clients: [
      { client_id: "rampart", client_secret: clientSecret, redirect_uris: [redirectUri] },
      { client_id: OTHER_CLIENT_ID, client_secret: `${clientSecret}-other`, redirect_uris: [redirectUri] },
    ],
    pkce: { required: () => true },
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    findAccount: (_ctx: unknown, sub: string) => {
      const user = users.get(sub);
      return user === undefined ? undefined : { accountId: sub, claims: () => ({ sub, ...user }) };
    },
    cookies: { keys: ["local-provider-cookie-key"] },
  });
  const state: Pick<LocalOidcProvider, "issueIdTokensTo" | "tamperIdTokens"> = {
    issueIdTokensTo: undefined,
    tamperIdTokens: undefined,
  };
  const issue = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = async function (this: { client: unknown }, ...args: unknown[]) {
    if (state.issueIdTokensTo !== undefined) this.client = await provider.Client.find(state.issueIdTokensTo);
    return issue.apply(this, args as Parameters<typeof issue>);
  };
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: unknown } | undefined;
    if (state.tamperIdTokens !== undefined && ctx.path === "/token" && typeof body?.id_token === "string")
      body.id_token = await state.tamperIdTokens(body.id_token);
  });
  const server: Server = provider.listen(port, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));

  const signInAt = async (authorizationUrl: string, subject: string): Promise<URL> => {
    const cookies = new Map<string, string>();
    const send = async (url: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set("cookie", [...cookies].map(([name, value]) => `${name}=${value}`).join("; "));
      const response = await fetch(url, { ...init, headers, redirect: "manual" });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair = ""] = cookie.split(";");
        const at = pair.indexOf("=");
        cookies.set(pair.slice(0, at), pair.slice(at + 1));
      }
      return response;
    };
    let url = authorizationUrl;
    for (let step = 0; step < 12; step++) {
      const response = await send(url);
      const location = response.headers.get("location");
      if (location !== null) {
        await response.body?.cancel();
        const next = new URL(location, url);
        if (next.href.startsWith(redirectUri)) return next;
        url = next.href;
        continue;
      }
      // An interaction page: the login form or the consent form, both posted back to the same path.
      const page = await response.text();
      const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
      if (prompt === undefined) throw new Error(`the provider answered ${response.status} without a form`);
      const form = new URLSearchParams({ prompt, login: subject, password: "any" });
      const submitted = await send(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form,
      });
      const resume = submitted.headers.get("location");
      await submitted.body?.cancel();
      if (resume === null) throw new Error(`the provider answered the ${prompt} form with ${submitted.status}`);
      url = new URL(resume, url).href;
    }
    throw new Error("the provider never redirected back");
  };

  return {
    issuer,
    clientId: "rampart",
    clientSecret,
    users,
    get issueIdTokensTo() {
      return state.issueIdTokensTo;
    },
    set issueIdTokensTo(clientId) {
      state.issueIdTokensTo = clientId;
    },
    get tamperIdTokens() {
      return state.tamperIdTokens;
    },
    set tamperIdTokens(tamper) {
      state.tamperIdTokens = tamper;
    },
    signInAt,
    close: () => {
      // Keep-alive connections would otherwise hold close() open until they time out.
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

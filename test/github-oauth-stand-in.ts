/**
 * A local stand-in for GitHub's OAuth app endpoints and the two user APIs sign-in reads: authorize (redirects
 * straight back, as if the user approved), the token exchange (one use per code, PKCE S256 checked, errors as
 * GitHub sends them: 200 with an `error` field), `GET /user` and `GET /user/emails`.
 */
import { createHash, randomBytes } from "node:crypto";
import { freePort } from "./free-port.ts";

export interface GitHubUser {
  id: number;
  email: string;
  verified: boolean;
}

export interface GitHubStandIn {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Who the next authorization signs in as. */
  nextUser: GitHubUser | undefined;
  close(): void;
}

export function startGitHubStandIn(): GitHubStandIn {
  const clientId = "Iv1.standin";
  const clientSecret = "github-stand-in-secret";
  const codes = new Map<string, { challenge: string; redirectUri: string; user: GitHubUser }>();
  const tokens = new Map<string, GitHubUser>();
  const state: { nextUser: GitHubUser | undefined } = { nextUser: undefined };
  const random = () => randomBytes(16).toString("hex");

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: freePort(),
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/login/oauth/authorize") {
        const params = url.searchParams;
        const user = state.nextUser;
        if (
          user === undefined ||
          params.get("client_id") !== clientId ||
          params.get("code_challenge_method") !== "S256"
        )
          return new Response("bad authorization request", { status: 400 });
        const code = random();
        const redirectUri = params.get("redirect_uri") ?? "";
        codes.set(code, { challenge: params.get("code_challenge") ?? "", redirectUri, user });
        const back = new URL(redirectUri);
        back.searchParams.set("code", code);
        back.searchParams.set("state", params.get("state") ?? "");
        return Response.redirect(back.href, 302);
      }
      if (url.pathname === "/login/oauth/access_token" && request.method === "POST") {
        const form = new URLSearchParams(await request.text());
        const code = codes.get(form.get("code") ?? "");
        codes.delete(form.get("code") ?? "");
        const verifier = form.get("code_verifier") ?? "";
        const valid =
          code !== undefined &&
          form.get("client_id") === clientId &&
          form.get("client_secret") === clientSecret &&
          form.get("redirect_uri") === code.redirectUri &&
          createHash("sha256").update(verifier).digest("base64url") === code.challenge;
        if (!valid) return Response.json({ error: "bad_verification_code" });
        const token = `gho_${random()}`;
        tokens.set(token, code.user);
        return Response.json({ access_token: token, token_type: "bearer", scope: "read:user,user:email" });
      }
      const user = tokens.get((request.headers.get("authorization") ?? "").replace(/^Bearer /, ""));
      if (user === undefined) return Response.json({ message: "Bad credentials" }, { status: 401 });
      if (url.pathname === "/user") return Response.json({ id: user.id, login: `user${user.id}` });
      if (url.pathname === "/user/emails")
        return Response.json([
          { email: `noreply-${user.id}@users.noreply.github.com`, primary: false, verified: true },
          { email: user.email, primary: true, verified: user.verified },
        ]);
      return new Response("not found", { status: 404 });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    clientId,
    clientSecret,
    get nextUser() {
      return state.nextUser;
    },
    set nextUser(user) {
      state.nextUser = user;
    },
    close: () => void server.stop(true),
  };
}

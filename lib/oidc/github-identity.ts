/**
 * Who a GitHub access token belongs to: GitHub's OAuth has no ID token, so the subject is the numeric user id
 * from `GET /user` (stable across renames) and the e-mail the primary one `GET /user/emails` marks verified.
 */
import { AppError } from "../errors/app-error.ts";
import type { OutboundRequestInit } from "../resilience/outbound-fetch.ts";

type OutboundFetch = (url: string, init?: OutboundRequestInit) => Promise<Response>;

interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

const refused = () => new AppError("OIDC_SIGN_IN_FAILED");

export async function fetchGitHubIdentity(
  outbound: OutboundFetch,
  apiUrl: string,
  accessToken: string,
): Promise<{ subject: string; email: string | undefined; emailVerified: boolean }> {
  const get = async (path: string): Promise<unknown> => {
    const response = await outbound(`${apiUrl}${path}`, {
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${accessToken}`,
        "x-github-api-version": "2022-11-28",
      },
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw refused();
    }
    return response.json();
  };
  const user = (await get("/user")) as { id?: unknown };
  if (typeof user.id !== "number" || !Number.isSafeInteger(user.id)) throw refused();
  const emails = await get("/user/emails");
  const primary = Array.isArray(emails)
    ? (emails as GitHubEmail[]).find((entry) => entry.primary === true && typeof entry.email === "string")
    : undefined;
  return {
    subject: String(user.id),
    email: primary?.email.trim().toLowerCase(),
    emailVerified: primary?.verified === true,
  };
}

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditEvents, users } from "../lib/db/schema/index.ts";
import { errorOf, freshEmail, PASSWORD, type Tokens } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { type EmailTestApp, openEmailTestApp } from "../test/email-test-app.ts";
import type { SentEmail } from "../test/resend-stand-in.ts";

let t: EmailTestApp;
beforeAll(async () => {
  t = await openEmailTestApp();
}, BACKEND_HOOK_TIMEOUT_MS);
afterAll(() => t.close(), BACKEND_HOOK_TIMEOUT_MS);
beforeEach(async () => {
  t.clock.reset();
  await t.mail();
});

const call = (method: string, path: string, token?: string, body?: unknown) =>
  t.client.call(method, path, { token, body });
const json = async <T>(response: Response, status: number): Promise<T> => {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status });
  return JSON.parse(text) as T;
};
const code = async (response: Response) => ({ status: response.status, code: (await errorOf(response)).code });

/** A signed-up account whose address is verified through its link. */
async function verifiedUser(email = freshEmail()): Promise<Tokens> {
  const tokens = await t.client.signUp(email);
  const [message] = await t.mail();
  const token = t.resend.tokenIn(message as SentEmail);
  expect((await call("POST", "/v1/auth/email/verify", undefined, { token })).status).toBe(200);
  return tokens;
}

async function orgOf(owner: Tokens, name = "Acme"): Promise<string> {
  return (await json<{ id: string }>(await call("POST", "/v1/orgs", owner.accessToken, { name }), 201)).id;
}

async function invite(owner: Tokens, orgId: string, email: string, role = "member") {
  const invitation = await json<{ id: string; status: string }>(
    await call("POST", `/v1/orgs/${orgId}/invitations`, owner.accessToken, { email, role }),
    201,
  );
  const mail = await t.mail();
  expect(mail.map((m) => m.to)).toEqual([[email]]);
  const token = t.resend.tokenIn(mail[0] as SentEmail);
  if (token === undefined) throw new Error("no link in the invitation");
  return { invitation, token, message: mail[0] as SentEmail };
}

const membersOf = async (owner: Tokens, orgId: string) =>
  (
    await json<{ members: { email: string; role: string }[] }>(
      await call("GET", `/v1/orgs/${orgId}/members`, owner.accessToken),
      200,
    )
  ).members;

describe("invitations", () => {
  test("a verified account with the invited address accepts once and joins with the role; audit rows", async () => {
    const owner = await verifiedUser();
    const orgId = await orgOf(owner, `<b>Acme</b> & "Co"`);
    const invitee = await verifiedUser();
    const { invitation, token, message } = await invite(owner, orgId, invitee.user.email, "admin");
    expect(invitation.status).toBe("pending");
    expect(message.text).toContain("https://app.rampart.example/accept-invitation#token=");
    // The organization's name is the inviter's choice: escaped in HTML.
    expect(message.html).toContain("&lt;b&gt;Acme&lt;/b&gt; &amp; &quot;Co&quot;");
    expect(message.html).not.toContain("<b>Acme</b>");

    const joined = await json<{ orgId: string; role: string }>(
      await call("POST", "/v1/invitations/accept", invitee.accessToken, { token }),
      200,
    );
    expect(joined).toMatchObject({ orgId, role: "admin" });
    expect(await membersOf(owner, orgId)).toContainEqual(
      expect.objectContaining({ email: invitee.user.email, role: "admin" }),
    );
    expect(await code(await call("POST", "/v1/invitations/accept", invitee.accessToken, { token }))).toEqual({
      status: 400,
      code: "TOKEN_INVALID",
    });
    const actions = (
      await t.runtime.db.primary
        .select({ action: auditEvents.action })
        .from(auditEvents)
        .where(eq(auditEvents.orgId, orgId))
    ).map((row) => row.action);
    expect(actions).toEqual(
      expect.arrayContaining(["org.invitation.created", "org.invitation.accepted", "org.member.added"]),
    );
  });

  test("another address is refused and the invitation stays for its owner; an unverified one must verify", async () => {
    const owner = await verifiedUser();
    const orgId = await orgOf(owner);
    const email = freshEmail();
    const { token } = await invite(owner, orgId, email);
    const stranger = await verifiedUser();
    expect(await code(await call("POST", "/v1/invitations/accept", stranger.accessToken, { token }))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
    const unverified = await t.client.signUp(email);
    await t.mail();
    expect(await code(await call("POST", "/v1/invitations/accept", unverified.accessToken, { token }))).toEqual({
      status: 403,
      code: "EMAIL_NOT_VERIFIED",
    });
    await t.runtime.db.primary
      .update(users)
      .set({ emailVerifiedAt: new Date() })
      .where(and(eq(users.id, unverified.user.id)));
    expect((await call("POST", "/v1/invitations/accept", unverified.accessToken, { token })).status).toBe(200);
  });

  test("signing up through the invitation creates a verified account that is a member", async () => {
    const owner = await verifiedUser();
    const orgId = await orgOf(owner);
    const email = freshEmail();
    const { token } = await invite(owner, orgId, email);
    const signedUp = await json<Tokens & { membership: { orgId: string; role: string } }>(
      await call("POST", "/v1/invitations/signup", undefined, { token, password: PASSWORD }),
      201,
    );
    expect(signedUp.user.email).toBe(email);
    expect(signedUp.membership).toMatchObject({ orgId, role: "member" });
    expect((await t.client.me(signedUp.accessToken)).status).toBe(200);
    const [row] = await t.runtime.db.primary
      .select({ at: users.emailVerifiedAt })
      .from(users)
      .where(eq(users.id, signedUp.user.id));
    expect(row?.at).toBeInstanceOf(Date);
    // No verification message: the invitation's link proved the address.
    expect(await t.mail()).toEqual([]);
    expect(await code(await call("POST", "/v1/invitations/signup", undefined, { token, password: PASSWORD }))).toEqual({
      status: 400,
      code: "TOKEN_INVALID",
    });
  });

  test("a revoked, an expired and a replaced invitation get the same refusal as a wrong link", async () => {
    const owner = await verifiedUser();
    const orgId = await orgOf(owner);
    const invitee = await verifiedUser();
    const wrong = await errorOf(
      await call("POST", "/v1/invitations/accept", invitee.accessToken, { token: "C".repeat(43) }),
    );
    const refusedWith = async (token: string) => {
      const response = await call("POST", "/v1/invitations/accept", invitee.accessToken, { token });
      const { code: c, message } = await errorOf(response);
      return { status: response.status, code: c, message };
    };
    const expected = { status: 400, code: wrong.code, message: wrong.message };

    const revoked = await invite(owner, orgId, invitee.user.email);
    const deleted = await call("DELETE", `/v1/orgs/${orgId}/invitations/${revoked.invitation.id}`, owner.accessToken);
    expect(deleted.status).toBe(204);
    expect(await refusedWith(revoked.token)).toEqual(expected);

    const replaced = await invite(owner, orgId, invitee.user.email);
    const current = await invite(owner, orgId, invitee.user.email);
    expect(await refusedWith(replaced.token)).toEqual(expected);

    t.clock.advance(7 * 86_400_000 + 1);
    expect(await refusedWith(current.token)).toEqual(expected);
    const listed = await json<{ invitations: { id: string; status: string }[] }>(
      await call("GET", `/v1/orgs/${orgId}/invitations`, owner.accessToken),
      200,
    );
    expect(listed.invitations.map((i) => i.status)).toEqual(["expired", "revoked", "revoked"]);
  });

  test("only admins invite, and a member is not invited again", async () => {
    const owner = await verifiedUser();
    const orgId = await orgOf(owner);
    const member = await verifiedUser();
    const { token } = await invite(owner, orgId, member.user.email);
    await call("POST", "/v1/invitations/accept", member.accessToken, { token });
    const byMember = await call("POST", `/v1/orgs/${orgId}/invitations`, member.accessToken, {
      email: freshEmail(),
      role: "member",
    });
    expect(await code(byMember)).toEqual({ status: 403, code: "FORBIDDEN" });
    const again = await call("POST", `/v1/orgs/${orgId}/invitations`, owner.accessToken, {
      email: member.user.email,
      role: "member",
    });
    expect(await code(again)).toEqual({ status: 409, code: "CONFLICT" });
    expect(await t.mail()).toEqual([]);
  });

  test("another organization's admin sees, revokes and invites nothing of this one (404)", async () => {
    const owner = await verifiedUser();
    const orgId = await orgOf(owner);
    const { invitation } = await invite(owner, orgId, freshEmail());
    const outsider = await verifiedUser();
    await orgOf(outsider);
    for (const [method, path, body] of [
      ["GET", `/v1/orgs/${orgId}/invitations`, undefined],
      ["DELETE", `/v1/orgs/${orgId}/invitations/${invitation.id}`, undefined],
      ["POST", `/v1/orgs/${orgId}/invitations`, { email: freshEmail(), role: "owner" }],
    ] as const)
      expect({ path, method, ...(await code(await call(method, path, outsider.accessToken, body))) }).toEqual({
        path,
        method,
        status: 404,
        code: "NOT_FOUND",
      });
    expect(await t.mail()).toEqual([]);
  });
});

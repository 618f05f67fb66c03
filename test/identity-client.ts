/**
 * A harness for the organization, API key and audit routes: users are created directly in the database
 * with a session and a real access token, and every call comes from a client address of its own
 * (TRUST_PROXY=1), so per-address limits of one test do not spill into the next.
 */
import { expect } from "bun:test";
import audit from "../functions/audit.ts";
import keys from "../functions/keys.ts";
import orgs from "../functions/orgs.ts";
import { signAccessToken } from "../lib/auth/access-tokens.ts";
import { createApiKey, type NewApiKey } from "../lib/auth/api-keys.ts";
import { sessions, users } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { type DatabaseBackend, openTestRuntime, type StoreBackend, type TestRuntime } from "./backends.ts";
import { createTestClock, type TestClock } from "./test-clock.ts";

export const ADMIN_TOKEN = "admin-token-0123456789abcdef0123456789";

export interface TestUser {
  userId: string;
  email: string;
  token: string;
  /** The session `token` belongs to, for `reauthenticated`. */
  sessionId?: string;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown>; requestId: string; timestamp: string };
}

export interface IssuedKey {
  id: string;
  key: string;
  name: string;
  visiblePrefix: string;
  scopes: string[];
  rateLimitPerMinute: number | null;
  expiresAt: string | null;
}

let addresses = 0;
const freshIp = () => `10.${(++addresses >> 16) & 255}.${(addresses >> 8) & 255}.${addresses & 255}`;

export function identityClient(runtime: TestRuntime, app: RampartApp) {
  const call = (method: string, path: string, options: { token?: string; body?: unknown; ip?: string } = {}) => {
    const headers: Record<string, string> = { "x-forwarded-for": options.ip ?? freshIp() };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    return app.fetch(
      new Request(`http://localhost${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      }),
    );
  };
  /** Asserts the status (showing the body when it differs) and returns the parsed body. */
  const expectJson = async <T>(response: Response, status: number): Promise<T> => {
    const text = await response.text();
    expect({ status: response.status, body: text }).toMatchObject({ status });
    return (text === "" ? undefined : JSON.parse(text)) as T;
  };
  return {
    call,
    expectJson,
    async createUser(): Promise<TestUser> {
      const db = runtime.db.primary;
      const email = `user-${crypto.randomUUID()}@example.com`;
      const [user] = await db
        .insert(users)
        .values({ email, passwordHash: "not-a-real-hash" })
        .returning({ id: users.id });
      if (user === undefined) throw new Error("no user row");
      const [session] = await db
        .insert(sessions)
        .values({ userId: user.id, expiresAt: new Date(Date.now() + 86_400_000) })
        .returning({ id: sessions.id });
      if (session === undefined) throw new Error("no session row");
      const { token } = await signAccessToken(await runtime.services.identity.keyRing.get(), runtime.config.auth, {
        userId: user.id,
        sessionId: session.id,
        // A fresh sign-in, as a real login gives: step-up routes admit it within their window.
        authTime: Math.floor(Date.now() / 1000),
      });
      return { userId: user.id, email, token, sessionId: session.id };
    },
    /** The user with a token whose sign-in time is `atMs`: a step-up, for a test whose clock moved on. */
    async reauthenticated(user: TestUser, atMs: number): Promise<TestUser> {
      const ring = await runtime.services.identity.keyRing.get();
      const { userId, sessionId } = user;
      if (sessionId === undefined) throw new Error("reauthenticated needs a user made by createUser");
      const subject = { userId, sessionId, authTime: Math.floor(atMs / 1000) };
      return { ...user, token: (await signAccessToken(ring, runtime.config.auth, subject)).token };
    },
    async createOrg(owner: TestUser, name = "Acme"): Promise<string> {
      return (
        await expectJson<{ id: string }>(await call("POST", "/v1/orgs", { token: owner.token, body: { name } }), 201)
      ).id;
    },
    async addMember(
      actor: TestUser,
      orgId: string,
      member: TestUser,
      role: "owner" | "admin" | "member",
    ): Promise<void> {
      await expectJson(
        await call("POST", `/v1/orgs/${orgId}/members`, { token: actor.token, body: { userId: member.userId, role } }),
        201,
      );
    },
    /** Through the route, so its burst limit (10 a second per user) applies. */
    async createKey(actor: TestUser, orgId: string, body: Record<string, unknown> = {}): Promise<IssuedKey> {
      return expectJson<IssuedKey>(
        await call("POST", `/v1/orgs/${orgId}/keys`, {
          token: actor.token,
          body: { name: "ci", scopes: ["orgs:read"], ...body },
        }),
        201,
      );
    },
    /** Straight through the lib, for tests that need many keys and are about using them, not creating them. */
    async issueKey(actor: TestUser, orgId: string, input: Partial<NewApiKey> = {}): Promise<IssuedKey> {
      return createApiKey(runtime, { type: "user", id: actor.userId }, orgId, {
        name: "ci",
        scopes: ["orgs:read"],
        ...input,
      });
    },
  };
}

export type IdentityClient = ReturnType<typeof identityClient>;

export interface IdentityTestApp {
  runtime: TestRuntime;
  app: RampartApp;
  client: IdentityClient;
  /** The runtime's clock: tests move it past a key's expiry or grace instead of sleeping. */
  clock: TestClock;
}

/** A runtime on the given backends with the orgs, keys and audit routes. */
export async function openIdentityTestApp(
  database: DatabaseBackend = "pglite",
  store: StoreBackend = "memory",
  env: Record<string, string> = {},
): Promise<IdentityTestApp> {
  const clock = createTestClock();
  const runtime = await openTestRuntime({
    database,
    store,
    env: { TRUST_PROXY: "1", ADMIN_TOKEN, ...env },
    now: clock.now,
  });
  const app = buildApp(runtime, [orgs, keys, audit]);
  return { runtime, app, client: identityClient(runtime, app), clock };
}

/** The error envelope without what differs on every response. */
export async function stableErrorOf(
  response: Response,
): Promise<{ status: number; error: Omit<ErrorBody["error"], "requestId" | "timestamp"> }> {
  const { error } = (await response.json()) as ErrorBody;
  const { requestId: _requestId, timestamp: _timestamp, ...rest } = error;
  return { status: response.status, error: rest };
}

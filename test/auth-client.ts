/**
 * A client for the auth routes in tests. Each user gets a client address of its own (TRUST_PROXY=1 and
 * X-Forwarded-For), so the per-address login limits of one test do not spill into the next.
 */
import { expect } from "bun:test";
import { createAuthRoutes } from "../functions/auth.ts";
import me from "../functions/me.ts";
import type { PasswordHashingOptions } from "../lib/auth/password-hashing.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import type { RouteGroup } from "../lib/http/route-group.ts";
import { type DatabaseBackend, openTestRuntime, type StoreBackend, type TestRuntime } from "./backends.ts";

/** Far below the production cost (see password-hashing.ts), to keep the suite quick. */
export const FAST_HASHING: PasswordHashingOptions = { memoryCost: 1_024, timeCost: 1 };
export const PASSWORD = "correct horse battery";

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; email: string };
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    details?: { fields?: { path: string; message: string }[] };
    requestId: string;
    timestamp: string;
  };
}

export interface CallOptions {
  body?: unknown;
  token?: string;
  ip?: string;
  userAgent?: string;
}

// A random start: test files that share one Redis must not count against each other's addresses.
let addresses = Math.floor(Math.random() * 2 ** 23);
/** A client address no other test uses. */
export const freshIp = () => `10.${(++addresses >> 16) & 255}.${(addresses >> 8) & 255}.${addresses & 255}`;
export const freshEmail = () => `user-${crypto.randomUUID()}@example.com`;

export function authClient(app: RampartApp) {
  const call = (method: string, path: string, options: CallOptions = {}) => {
    const headers: Record<string, string> = { "x-forwarded-for": options.ip ?? freshIp() };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.userAgent !== undefined) headers["user-agent"] = options.userAgent;
    return app.fetch(
      new Request(`http://localhost${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      }),
    );
  };
  const tokensFrom = async (response: Response, status: number): Promise<Tokens> => {
    const text = await response.text();
    expect({ status: response.status, body: text }).toMatchObject({ status });
    return JSON.parse(text) as Tokens;
  };
  return {
    call,
    async signUp(
      email: string = freshEmail(),
      password: string = PASSWORD,
      options: CallOptions = {},
    ): Promise<Tokens> {
      return tokensFrom(await call("POST", "/v1/auth/signup", { ...options, body: { email, password } }), 201);
    },
    async logIn(email: string, password: string = PASSWORD, options: CallOptions = {}): Promise<Tokens> {
      return tokensFrom(await call("POST", "/v1/auth/login", { ...options, body: { email, password } }), 200);
    },
    refresh: (refreshToken: string, options: CallOptions = {}) =>
      call("POST", "/v1/auth/refresh", { ...options, body: { refreshToken } }),
    async refreshed(refreshToken: string): Promise<Tokens> {
      return tokensFrom(await call("POST", "/v1/auth/refresh", { body: { refreshToken } }), 200);
    },
    me: (token: string) => call("GET", "/v1/me", { token }),
  };
}

export type AuthClient = ReturnType<typeof authClient>;

export interface AuthTestApp {
  runtime: TestRuntime;
  app: RampartApp;
  client: AuthClient;
}

export interface AuthTestOptions {
  database?: DatabaseBackend;
  store?: StoreBackend;
  env?: Record<string, string>;
  hashing?: PasswordHashingOptions;
  /** The runtime's clock (a test clock moves challenge expiries and step-up windows). */
  now?: () => number;
  /** Route groups served besides auth and me. */
  groups?: readonly RouteGroup[];
}

/** A runtime with the auth and me routes, trusting one X-Forwarded-For hop. */
export async function openAuthTestApp({
  database,
  store,
  env = {},
  hashing = FAST_HASHING,
  now,
  groups = [],
}: AuthTestOptions = {}): Promise<AuthTestApp> {
  const runtime = await openTestRuntime({ database, store, env: { TRUST_PROXY: "1", ...env }, ...(now && { now }) });
  const app = buildApp(runtime, [createAuthRoutes({ passwordHashing: hashing }), me, ...groups]);
  return { runtime, app, client: authClient(app) };
}

export async function errorOf(response: Response): Promise<ErrorBody["error"]> {
  return ((await response.json()) as ErrorBody).error;
}

/** Second-factor steps for tests: an auth app with the MFA routes on a test clock, and TOTP codes at any time. */
import { expect } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { createMfaRoutes } from "../functions/mfa.ts";
import {
  type AuthTestApp,
  type AuthTestOptions,
  FAST_HASHING,
  openAuthTestApp,
  PASSWORD,
  type Tokens,
} from "./auth-client.ts";
import { createTestClock, type TestClock } from "./test-clock.ts";

export interface MfaRequired {
  mfaRequired: true;
  challengeToken: string;
  expiresIn: number;
  methods: string[];
}

/** The code an authenticator app shows for `secret` at `timestamp` (epoch ms). */
export const totpCode = (secret: string, timestamp: number) =>
  new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp });

export async function openMfaTestApp(options: AuthTestOptions = {}): Promise<AuthTestApp & { clock: TestClock }> {
  const clock = createTestClock();
  const opened = await openAuthTestApp({
    ...options,
    now: clock.now,
    groups: [createMfaRoutes({ passwordHashing: FAST_HASHING }), ...(options.groups ?? [])],
  });
  return { ...opened, clock };
}

export function mfaClient({ client, clock }: Pick<AuthTestApp, "client"> & { clock: TestClock }) {
  const json = async <T>(response: Response, status: number): Promise<T> => {
    const text = await response.text();
    expect({ status: response.status, body: text }).toMatchObject({ status });
    return JSON.parse(text) as T;
  };
  return {
    json,
    /** Enrols and confirms TOTP for the token's user: its secret and recovery codes. */
    async enableTotp(token: string): Promise<{ secret: string; recoveryCodes: string[] }> {
      const { secret } = await json<{ secret: string; uri: string }>(
        await client.call("POST", "/v1/auth/mfa/totp", { token }),
        201,
      );
      // The step before now: the code a login right after would send stays unused.
      const code = totpCode(secret, clock.now() - 30_000);
      const { recoveryCodes } = await json<{ recoveryCodes: string[] }>(
        await client.call("POST", "/v1/auth/mfa/totp/confirm", { token, body: { code } }),
        200,
      );
      return { secret, recoveryCodes };
    },
    async passwordStep(email: string, ip?: string): Promise<MfaRequired> {
      return json<MfaRequired>(
        await client.call("POST", "/v1/auth/login", { ip, body: { email, password: PASSWORD } }),
        200,
      );
    },
    verify: (body: Record<string, string>, ip?: string) => client.call("POST", "/v1/auth/mfa/verify", { body, ip }),
    async signedIn(response: Response): Promise<Tokens> {
      return json<Tokens>(response, 200);
    },
  };
}

/**
 * An app with the account, e-mail, invitation and organization routes whose mail goes to a Resend stand-in, on a
 * clock tests move, trusting one X-Forwarded-For hop.
 */
import { type AccountEmailRouteOptions, createAccountEmailRoutes } from "../functions/account-email.ts";
import { createAuthRoutes } from "../functions/auth.ts";
import { createInvitationRoutes } from "../functions/invitations.ts";
import me from "../functions/me.ts";
import orgs from "../functions/orgs.ts";
import { mailerOf } from "../lib/email/mailer.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { type AuthClient, authClient, FAST_HASHING } from "./auth-client.ts";
import { openTestRuntime, type StoreBackend, type TestRuntime } from "./backends.ts";
import { RESEND_KEY, type ResendStandIn, type SentEmail, startResendStandIn } from "./resend-stand-in.ts";
import { createTestClock, type TestClock } from "./test-clock.ts";

export interface EmailTestApp {
  runtime: TestRuntime;
  app: RampartApp;
  client: AuthClient;
  resend: ResendStandIn;
  clock: TestClock;
  /** Waits for the mail queued so far, then answers what the stand-in received since the last call. */
  mail(): Promise<SentEmail[]>;
  close(): Promise<void>;
}

export async function openEmailTestApp(
  options: {
    env?: Record<string, string>;
    store?: StoreBackend;
    accountEmail?: Partial<AccountEmailRouteOptions>;
  } = {},
) {
  const resend = startResendStandIn();
  const clock = createTestClock();
  const runtime = await openTestRuntime({
    store: options.store,
    now: clock.now,
    env: {
      TRUST_PROXY: "1",
      EMAIL_PROVIDER: "resend",
      EMAIL_API_KEY: RESEND_KEY,
      EMAIL_API_URL: resend.url,
      EMAIL_FROM: "Rampart <no-reply@rampart.example>",
      APP_URL: "https://app.rampart.example",
      ...options.env,
    },
  });
  const app = buildApp(runtime, [
    createAuthRoutes({ passwordHashing: FAST_HASHING }),
    createAccountEmailRoutes({ passwordHashing: FAST_HASHING, ...options.accountEmail }),
    createInvitationRoutes(FAST_HASHING),
    orgs,
    me,
  ]);
  let read = 0;
  return {
    runtime,
    app,
    client: authClient(app),
    resend,
    clock,
    async mail() {
      await mailerOf(runtime).settled();
      const fresh = resend.sent.slice(read);
      read = resend.sent.length;
      return fresh;
    },
    async close() {
      await mailerOf(runtime).settled();
      resend.stop();
      await runtime.close();
    },
  } satisfies EmailTestApp;
}

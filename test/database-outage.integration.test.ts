/**
 * PostgreSQL or the Neon gateway gone, on each production driver: requests answer 503 with Retry-After,
 * inside a transaction or not, the outage counts for the database breaker, and requests work again once
 * it is back. The database sits behind a TCP relay (and, for Neon, a gateway of the test's own) to cut.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import orgs from "../functions/orgs.ts";
import { DATABASE_BREAKER } from "../lib/db/database.ts";
import { buildApp } from "../lib/http/app.ts";
import { DEFAULT_BREAKER_OPTIONS } from "../lib/resilience/breaker.ts";
import { startNeonWsProxy } from "../tools/neon-ws-proxy.ts";
import { openDatabaseBehindRelay, openTestRuntime } from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { ADMIN_TOKEN, identityClient, stableErrorOf, type TestUser } from "./identity-client.ts";

type Driver = "neon" | "postgres";

const UNAVAILABLE = { retryAfter: "1", status: 503, code: "DEPENDENCY_UNAVAILABLE" };
const CREATED = { retryAfter: null, status: 201, code: undefined };
const BREAKER_THRESHOLD = DATABASE_BREAKER.consecutiveFailures ?? DEFAULT_BREAKER_OPTIONS.consecutiveFailures;
// A membership insert waits on this advisory lock while the test holds it, so the connection can be cut
// mid-transaction.
const HOLD_LOCK = 4242;

async function answerOf(response: Response) {
  if (response.status < 400) return { retryAfter: null, status: response.status, code: undefined };
  const { status, error } = await stableErrorOf(response);
  return { retryAfter: response.headers.get("retry-after"), status, code: error.code };
}

/** The orgs routes on a fresh database reached through a relay; `wsProxy` replaces the shared Neon gateway. */
async function openBehindRelay(driver: Driver, wsProxy?: string) {
  const { db, relay, directUrl } = await openDatabaseBehindRelay(driver, { wsProxy });
  const runtime = await openTestRuntime({ db, env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
  const client = identityClient(runtime, buildApp(runtime, [orgs]));
  const owner = await client.createUser();
  const createOrg = (user: TestUser, name: string) =>
    client.call("POST", "/v1/orgs", { token: user.token, body: { name } });
  const orgNames = async () =>
    (
      await client.expectJson<{ orgs: { name: string }[] }>(
        await client.call("GET", "/v1/orgs", { token: owner.token }),
        200,
      )
    ).orgs.map((org) => org.name);
  return {
    directUrl,
    relay,
    db,
    owner,
    createOrg: (name: string) => createOrg(owner, name),
    listOrgs: () => client.call("GET", "/v1/orgs", { token: owner.token }),
    orgNames,
    /** Waits for the database to answer again: the breaker lets a probe through only after its half-open delay. */
    async waitUntilBack(): Promise<void> {
      for (let attempt = 1; ; attempt++) {
        const answered = await db.ping().then(
          () => true,
          (error: unknown) => (attempt === 200 ? Promise.reject(error) : false),
        );
        if (answered) return;
        await Bun.sleep(100);
      }
    },
    close: () => runtime.close(),
  };
}

describeWithServers(["postgres"], "database outage", () => {
  for (const driver of ["neon", "postgres"] as const) {
    test(`${driver}: with PostgreSQL unreachable, a transaction and a plain query answer 503 with Retry-After; both ` +
      `work once it is back`, async () => {
      const setup = await openBehindRelay(driver);
      try {
        setup.relay.kill();
        expect(await answerOf(await setup.createOrg("During"))).toEqual(UNAVAILABLE);
        expect(await answerOf(await setup.listOrgs())).toEqual(UNAVAILABLE);
        setup.relay.revive();
        await setup.waitUntilBack();
        expect(await answerOf(await setup.createOrg("After"))).toEqual(CREATED);
        expect(await setup.orgNames()).toEqual(["After"]);
      } finally {
        await setup.close();
      }
    }, 60_000);

    test(`${driver}: PostgreSQL lost in the middle of a transaction answers 503 with Retry-After and commits ` +
      `nothing`, async () => {
      const setup = await openBehindRelay(driver);
      const admin = postgres(setup.directUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(
          `create function hold_membership() returns trigger language plpgsql as $$ begin perform ` +
            `pg_advisory_xact_lock(${HOLD_LOCK}); return new; end $$`,
        );
        await admin.unsafe(
          "create trigger hold_membership before insert on memberships for each row execute function hold_membership()",
        );
        await admin`select pg_advisory_lock(${HOLD_LOCK})`;
        const pending = setup.createOrg("Cut");
        // Cut only once the transaction has begun and is waiting on the lock.
        const waitingOnLock = async () =>
          (await admin`select 1 from pg_stat_activity where datname = current_database() and wait_event = 'advisory'`)
            .length > 0;
        while (!(await waitingOnLock())) await Bun.sleep(20);
        setup.relay.kill();
        expect(await answerOf(await pending)).toEqual(UNAVAILABLE);
        await admin`select pg_advisory_unlock(${HOLD_LOCK})`;
        await admin.unsafe("drop trigger hold_membership on memberships");
        setup.relay.revive();
        await setup.waitUntilBack();
        expect(await answerOf(await setup.createOrg("After"))).toEqual(CREATED);
        expect(await setup.orgNames()).toEqual(["After"]);
      } finally {
        await admin.end();
        await setup.close();
      }
    }, 60_000);
  }

  test("neon: with the WebSocket gateway stopped and PostgreSQL up, requests answer 503, the breaker opens at its " +
    "threshold, and both recover", async () => {
    const gateway = startNeonWsProxy({});
    let restarted: { stop(): Promise<void> } | undefined;
    const setup = await openBehindRelay("neon", `127.0.0.1:${gateway.port}`);
    try {
      await gateway.stop();
      const states: (string | undefined)[] = [];
      for (let i = 0; i < BREAKER_THRESHOLD; i++) {
        expect(await answerOf(await setup.createOrg("During"))).toEqual(UNAVAILABLE);
        states.push(setup.db.breaker?.state);
      }
      expect(states).toEqual([...Array<string>(BREAKER_THRESHOLD - 1).fill("closed"), "open"]);
      expect(await answerOf(await setup.listOrgs())).toEqual(UNAVAILABLE);
      restarted = startNeonWsProxy({ port: gateway.port });
      await setup.waitUntilBack();
      expect(await answerOf(await setup.createOrg("After"))).toEqual(CREATED);
      expect(setup.db.breaker?.state).toBe("closed");
      expect(await setup.orgNames()).toEqual(["After"]);
    } finally {
      await setup.close();
      await restarted?.stop();
    }
  }, 60_000);
});

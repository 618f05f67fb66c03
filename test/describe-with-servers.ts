/**
 * Groups of tests that need the real PostgreSQL and Redis `.ci/start-services` runs, Debian's Chromium or the
 * Prometheus client's parsers (`.ci/run` installs both and sets TEST_CHROMIUM and TEST_PROMETHEUS_PYTHON).
 * Without them a group's tests are reported as skipped under their own names, and its hooks are never
 * registered: bun lists the hooks of a skipped group as skipped tests named "(unnamed)".
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe } from "bun:test";

export type TestServer = "postgres" | "redis" | "chromium" | "prometheus" | "postgres-programs";

const VARIABLES: Record<TestServer, string> = {
  postgres: "TEST_POSTGRES_URL",
  redis: "TEST_REDIS_URL",
  chromium: "TEST_CHROMIUM",
  prometheus: "TEST_PROMETHEUS_PYTHON",
  "postgres-programs": "TEST_POSTGRES_BIN",
};
const NAMES: Record<TestServer, string> = {
  postgres: "PostgreSQL",
  redis: "Redis",
  chromium: "Chromium",
  prometheus: "Prometheus parser (python3-prometheus-client)",
  "postgres-programs": "PostgreSQL's own programs (pg_basebackup, pg_ctl, pg_dump)",
};
const START_SERVICES = `eval "$(.ci/start-services | sed 's/^/export /')"`;
const INSTALL: Partial<Record<TestServer, string>> = {
  chromium: "apt-get install -y chromium && export TEST_CHROMIUM=/usr/bin/chromium",
  prometheus: "apt-get install -y python3-prometheus-client && export TEST_PROMETHEUS_PYTHON=/usr/bin/python3",
};

export interface GroupHooks {
  beforeAll: typeof beforeAll;
  afterAll: typeof afterAll;
  beforeEach: typeof beforeEach;
  afterEach: typeof afterEach;
}

const HOOKS: GroupHooks = { beforeAll, afterAll, beforeEach, afterEach };
const NO_HOOKS: GroupHooks = { beforeAll: () => {}, afterAll: () => {}, beforeEach: () => {}, afterEach: () => {} };

function missingServers(): TestServer[] {
  return (Object.keys(VARIABLES) as TestServer[]).filter((server) => !process.env[VARIABLES[server]]);
}

/** `describe`, skipped with every test named when one of `servers` is not configured; use the hooks it passes. */
export function describeWithServers(servers: TestServer[], name: string, body: (hooks: GroupHooks) => void): void {
  const missing = missingServers();
  if (servers.some((server) => missing.includes(server))) describe.skip(name, () => body(NO_HOOKS));
  else describe(name, () => body(HOOKS));
}

/** Why some tests will be skipped and how to run them; undefined when every server is configured. */
export function skippedServersNotice(): string | undefined {
  const missing = missingServers();
  if (missing.length === 0) return undefined;
  const variables = missing.map((server) => VARIABLES[server]).join(" and ");
  const names = missing.map((server) => NAMES[server]).join(" and ");
  const steps = [
    ...(missing.some((server) => INSTALL[server] === undefined) ? [START_SERVICES] : []),
    ...missing.flatMap((server) => INSTALL[server] ?? []),
  ];
  return (
    `${variables} ${missing.length === 1 ? "is" : "are"} not set: the tests that need a real ${names} are ` +
    `skipped. To run them, first: ${steps.join(" and ")}`
  );
}

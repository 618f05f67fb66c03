import { describe, expect, test } from "bun:test";
import { loadConfig } from "../config/config.ts";
import { settingsFromConfig } from "./settings.ts";
import { checkStoredSettings } from "./settings-check.ts";
import { checkSettings } from "./settings-schema.ts";

const { version: _version, ...base } = settingsFromConfig(loadConfig({ NODE_ENV: "test" }));
const rule = { name: "login", limit: 5, windowMs: 60_000, scope: "ip" };

const VALID: unknown[] = [
  base,
  {
    cors: {
      origins: ["https://a.example.com", "http://127.0.0.1:8080", "http://[::1]:3000"],
      credentials: true,
      maxAgeSeconds: 0,
    },
    emergency: { enabled: true, limitDivisor: 1000, blockThreshold: 1_000_000 },
    blocking: { threshold: 1, windowMs: 86_400_000, blockMs: 31_536_000_000 },
    timeoutsMs: { read: 1, write: 2, auth: 3, cron: 86_400_000 },
    rateLimitOverrides: {
      "/v1/auth": [
        { ...rule, name: "a".repeat(64), algorithm: "sliding-window", onStoreFailure: "closed", acrossRoutes: true },
        { ...rule, scope: "email", algorithm: "fixed-window", onStoreFailure: "open", acrossRoutes: false },
      ],
      "/": [],
    },
  },
  { ...base, rateLimitOverrides: [] },
  { ...base, cors: { ...base.cors, origins: [] }, blocking: { ...base.blocking, threshold: -0 + 1 } },
];

const INVALID: unknown[] = [
  null,
  [],
  "settings",
  42,
  { ...base, extra: 1 },
  JSON.parse(JSON.stringify(base).replace("{", '{"__proto__":{"polluted":true},')),
  (({ cors: _cors, ...rest }) => rest)(base),
  { ...base, cors: [] },
  { ...base, emergency: "on" },
  { ...base, cors: { ...base.cors, origins: ["*"] } },
  { ...base, cors: { ...base.cors, origins: ["https://*.example.com", 7, "https://a.example.com/", "null"] } },
  { ...base, cors: { ...base.cors, origins: "https://a.example.com" } },
  { ...base, cors: { ...base.cors, credentials: "yes", maxAgeSeconds: 86_401 } },
  { ...base, blocking: { threshold: "lots" } },
  { ...base, blocking: { ...base.blocking, threshold: 0.5, windowMs: -1, blockMs: 31_536_000_001 } },
  { ...base, blocking: { ...base.blocking, threshold: 1.5, windowMs: 0 } },
  { ...base, emergency: { ...base.emergency, limitDivisor: 0, blockThreshold: 1_000_001, enabled: 1 } },
  { ...base, timeoutsMs: { ...base.timeoutsMs, read: 86_400_001, x: 1 } },
  { ...base, rateLimitOverrides: { v1: [] } },
  { ...base, rateLimitOverrides: { "/v1": {} } },
  { ...base, rateLimitOverrides: "none" },
  { ...base, rateLimitOverrides: [[rule]] },
  { ...base, rateLimitOverrides: { "/v1": [rule, null, "x"] } },
  {
    ...base,
    rateLimitOverrides: {
      "/v1": [
        { name: "", limit: 0, windowMs: 1.5, algorithm: "x", scope: "y", onStoreFailure: "z", acrossRoutes: 1, q: 1 },
      ],
    },
  },
  { ...base, rateLimitOverrides: { "/v1": [{ name: "a".repeat(65), limit: 5, windowMs: 10 }] } },
  { ...base, rateLimitOverrides: { "/v1": [{ ...rule, name: 3, limit: 100_000_001 }] } },
  { ...base, rateLimitOverrides: { v1: [], "/v1": [{}], "/v2": 1 } },
];

describe("checkStoredSettings against the arktype schema of record", () => {
  test.each(VALID.map((doc, i) => [i, doc] as const))(
    "valid document %d is accepted with the same values",
    (_, doc) => {
      const verdict = checkSettings(doc);
      expect(verdict.ok).toBe(true);
      expect(checkStoredSettings(doc)).toEqual(verdict);
    },
  );

  test.each(INVALID.map((doc) => [JSON.stringify(doc), doc] as const))(
    "%s is refused with the same paths and messages",
    (_, doc) => {
      const verdict = checkSettings(doc);
      expect(verdict.ok).toBe(false);
      expect(checkStoredSettings(doc)).toEqual(verdict);
    },
  );
});

// A fresh process has a fresh module registry; arktype marks its load with globalThis.$ark.
const COLD_POLL = `
import { MemoryStore } from "./lib/store/memory-store.ts";
import { createLiveSettings } from "./lib/settings/live-settings.ts";
import { settingsFromConfig } from "./lib/settings/settings.ts";
import { loadConfig } from "./lib/config/config.ts";
import { createLogger } from "./lib/log/logger.ts";
const store = new MemoryStore();
const base = settingsFromConfig(loadConfig({ NODE_ENV: "test" }));
const { version, ...body } = base;
const settings = { ...body, blocking: { ...body.blocking, threshold: 42 } };
const changedAt = new Date().toISOString();
await store.set("rampart:settings:v1", JSON.stringify({ version: 1, settings, changedBy: "ops", changedAt }));
const live = createLiveSettings({ store, logger: createLogger({ sink: () => {} }), base, pollMs: 1000 });
await live.poll();
console.log(JSON.stringify({ threshold: live.current().blocking.threshold, arktype: "$ark" in globalThis }));
`;

test("an instance's first poll applies stored settings without loading arktype", async () => {
  const child = Bun.spawn([process.execPath, "-e", COLD_POLL], { cwd: `${import.meta.dir}/../..`, stderr: "inherit" });
  const output = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  expect(JSON.parse(output)).toEqual({ threshold: 42, arktype: false });
}, 30_000);

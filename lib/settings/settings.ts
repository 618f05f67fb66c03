/**
 * Settings that can change while the service runs (CORS origins, emergency mode, blocking thresholds,
 * timeouts, rate-limit overrides). Guards read `current()`, a plain in-memory value: never a store read
 * per request.
 */
import type { Config } from "../config/config.ts";
import type { RateLimitRule, TimeoutClass } from "../core/route-policy.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { createLiveSettings } from "./live-settings.ts";

export interface Settings {
  version: number;
  cors: { origins: string[]; credentials: boolean; maxAgeSeconds: number };
  emergency: { enabled: boolean; limitDivisor: number; blockThreshold: number };
  blocking: { threshold: number; windowMs: number; blockMs: number };
  timeoutsMs: Record<TimeoutClass, number>;
  /** Replaces the rate limits of the routes whose path starts with the key, e.g. "/v1/auth". */
  rateLimitOverrides: Record<string, RateLimitRule[]>;
}

/** Settings without their version: what an operator changes and what the store keeps. */
export type SettingsBody = Omit<Settings, "version">;

/** A change to some settings: each section is merged field by field, except `rateLimitOverrides`, replaced whole. */
export type SettingsPatch = {
  [Section in keyof SettingsBody]?: Section extends "rateLimitOverrides"
    ? SettingsBody[Section]
    : Partial<SettingsBody[Section]>;
};

export interface SettingsSource {
  current(): Settings;
  /** Throws VALIDATION_FAILED when the patch merged over the current settings is invalid; writes nothing. */
  check(patch: SettingsPatch): Promise<void>;
  /**
   * Validates the patch merged over the newest settings, shares it and applies it here at once; throws
   * VALIDATION_FAILED.
   */
  update(patch: SettingsPatch, actor: string): Promise<Settings>;
  /** Adds other shared state to each poll (the IP blocklist); a registration makes the next `pollIfStale` poll. */
  onPoll(name: string, refresh: () => Promise<void>): void;
  /** Refreshes the settings and every registered part now; failures are logged and the last good state kept. */
  poll(): Promise<void>;
  /** For serverless, which has no timer: a poll's promise when the last poll is older than the interval. */
  pollIfStale(): Promise<void> | undefined;
  /** Polls every interval on an unref'd timer, starting now (long-lived servers). */
  start(): void;
  stop(): void;
}

export const DEFAULT_SETTINGS: Omit<Settings, "cors" | "emergency"> & {
  corsMaxAgeSeconds: number;
  emergency: Omit<Settings["emergency"], "enabled">;
} = {
  version: 0,
  corsMaxAgeSeconds: 600,
  emergency: { limitDivisor: 4, blockThreshold: 5 },
  blocking: { threshold: 20, windowMs: 60_000, blockMs: 15 * 60_000 },
  timeoutsMs: { read: 5_000, write: 10_000, auth: 5_000, cron: 55_000 },
  rateLimitOverrides: {},
};

export function settingsFromConfig(config: Config): Settings {
  return {
    version: DEFAULT_SETTINGS.version,
    cors: {
      origins: config.corsOrigins,
      credentials: config.corsCredentials,
      maxAgeSeconds: DEFAULT_SETTINGS.corsMaxAgeSeconds,
    },
    emergency: { enabled: config.emergencyMode, ...DEFAULT_SETTINGS.emergency },
    blocking: { ...DEFAULT_SETTINGS.blocking },
    timeoutsMs: { ...DEFAULT_SETTINGS.timeoutsMs },
    rateLimitOverrides: {},
  };
}

const DEFAULT_STATIC_POLL_MS = 2_000;

/** Settings no other instance shares (tests, build tools): they change only through this source's `update`. */
export function staticSettings(settings: Settings, logger: Logger = createLogger({ sink: () => {} })): SettingsSource {
  return createLiveSettings({ store: new MemoryStore(), logger, base: settings, pollMs: DEFAULT_STATIC_POLL_MS });
}

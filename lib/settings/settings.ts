/**
 * Settings that can change while the service runs (CORS origins, emergency mode, blocking thresholds,
 * timeouts, rate-limit overrides). Guards read `current()`, a plain in-memory value: never a store read
 * per request.
 */
import type { Config } from "../config/config.ts";
import type { RateLimitRule, TimeoutClass } from "../http/route-policy.ts";

export interface Settings {
  version: number;
  cors: { origins: string[]; credentials: boolean; maxAgeSeconds: number };
  emergency: { enabled: boolean; limitDivisor: number; blockThreshold: number };
  blocking: { threshold: number; windowMs: number; blockMs: number };
  timeoutsMs: Record<TimeoutClass, number>;
  /** Replaces the rate limits of the routes whose path starts with the key, e.g. "/v1/auth". */
  rateLimitOverrides: Record<string, RateLimitRule[]>;
}

export interface SettingsSource {
  current(): Settings;
}

export const DEFAULT_SETTINGS: Omit<Settings, "cors" | "emergency"> & { corsMaxAgeSeconds: number; emergency: Omit<Settings["emergency"], "enabled"> } = {
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
    cors: { origins: config.corsOrigins, credentials: config.corsCredentials, maxAgeSeconds: DEFAULT_SETTINGS.corsMaxAgeSeconds },
    emergency: { enabled: config.emergencyMode, ...DEFAULT_SETTINGS.emergency },
    blocking: { ...DEFAULT_SETTINGS.blocking },
    timeoutsMs: { ...DEFAULT_SETTINGS.timeoutsMs },
    rateLimitOverrides: {},
  };
}

export function staticSettings(settings: Settings): SettingsSource {
  return { current: () => settings };
}

/** Picks the store the configuration names; Redis always sits behind the in-process fallback. */
import type { StoreConfig } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { createBreaker } from "../resilience/breaker.ts";
import { FallbackStore } from "./fallback-store.ts";
import { MemoryStore } from "./memory-store.ts";
import type { Store } from "./store.ts";
import { UpstashStore } from "./upstash-store.ts";

export function openStore(config: StoreConfig, logger: Logger): Store {
  if (config.driver === "memory") return new MemoryStore();
  return new FallbackStore(new UpstashStore(config), createBreaker("redis", logger), logger);
}

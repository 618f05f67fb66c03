/**
 * Picks the store the configuration names; Redis always sits behind the in-process fallback. @upstash/redis
 * is imported only when the configuration names it.
 */
import type { StoreConfig } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { createBreaker } from "../resilience/breaker.ts";
import { FallbackStore } from "./fallback-store.ts";
import { MemoryStore } from "./memory-store.ts";
import type { Store } from "./store.ts";

export async function openStore(config: StoreConfig, logger: Logger): Promise<Store> {
  if (config.driver === "memory") return new MemoryStore();
  const { UpstashStore } = await import("./upstash-store.ts");
  return new FallbackStore(new UpstashStore(config), createBreaker("redis", logger), logger);
}

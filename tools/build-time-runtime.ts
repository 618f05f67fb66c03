/** The runtime route groups are built against at build time: its database refuses use, so building does no I/O. */
import { loadConfig } from "../lib/config/config.ts";
import { createLogger } from "../lib/log/logger.ts";
import { assembleRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import { settingsFromConfig, staticSettings } from "../lib/settings/settings.ts";
import { MemoryStore } from "../lib/store/memory-store.ts";

/** `builder` names what was being built in the error a database use throws. */
export function buildTimeRuntime(builder: string): Runtime {
  const refuse = () => {
    throw new Error(`${builder} used the database while being built`);
  };
  const config = loadConfig({ NODE_ENV: "test" });
  return assembleRuntime({
    config,
    settings: staticSettings(settingsFromConfig(config)),
    logger: createLogger({ sink: () => {} }),
    db: {
      driver: "pglite",
      get primary(): never {
        return refuse();
      },
      read: refuse,
      ping: refuse,
      migrate: refuse,
      close: refuse,
    },
    store: new MemoryStore(),
    lifecycle: { shuttingDown: false },
    now: Date.now,
  });
}

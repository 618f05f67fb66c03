/**
 * The services a runtime makes on first use (identity, operator check, IP blocker), kept on the runtime rather
 * than in module state. They are keyed by name: a module `bun --hot` evaluates again finds the running instance.
 */
import type { Runtime } from "./runtime.ts";

/** How to make one service; declared beside the service, e.g. `export const IDENTITY = defineService(...)`. */
export interface ServiceDefinition<T> {
  readonly name: string;
  create(runtime: Runtime): T;
}

export function defineService<T>(name: string, create: (runtime: Runtime) => T): ServiceDefinition<T> {
  return { name, create };
}

export interface Services {
  /** The runtime's one instance of `service`, made on the first call. */
  get<T>(service: ServiceDefinition<T>): T;
}

/** `runtime` is read on first use, so the services can be created inside the runtime they belong to. */
export function createServices(runtime: () => Runtime): Services {
  const instances = new Map<string, unknown>();
  return {
    get<T>(service: ServiceDefinition<T>): T {
      if (!instances.has(service.name)) instances.set(service.name, service.create(runtime()));
      return instances.get(service.name) as T;
    },
  };
}

/** A route group is one file in functions/: a name and the Elysia app it builds for a runtime. */
import type { AnyElysia } from "elysia";
import type { Runtime } from "../runtime/runtime.ts";

export interface RouteGroup {
  readonly name: string;
  build(runtime: Runtime): AnyElysia;
}

export function defineRouteGroup(name: string, build: (runtime: Runtime) => AnyElysia): RouteGroup {
  return { name, build };
}

/** Finds the route groups in functions/: every file but tests is one group, loaded by its default export. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { RouteGroup } from "../lib/http/route-group.ts";

export const FUNCTIONS_DIR = join(import.meta.dir, "..", "functions");

export function routeGroupFiles(): string[] {
  return readdirSync(FUNCTIONS_DIR)
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
    .sort()
    .map((file) => join(FUNCTIONS_DIR, file));
}

export async function loadRouteGroups(): Promise<RouteGroup[]> {
  const modules = await Promise.all(routeGroupFiles().map((file) => import(file) as Promise<{ default: RouteGroup }>));
  return modules.map((module) => module.default);
}

import { expect, test } from "bun:test";
import openapi from "../../openapi.json" with { type: "json" };
import { DECLARED_SLOS } from "./declared-slos.ts";
import { defineSlo } from "./slo-declaration.ts";

// The committed document lists every route with its group (its tag); a test keeps it in step with the routes.
const ROUTES = Object.entries(openapi.paths as Record<string, Record<string, { tags?: string[] }>>).flatMap(
  ([path, operations]) =>
    Object.values(operations).map((operation) => ({
      template: path.replace(/\{([A-Za-z0-9_]+)\}/g, ":$1"),
      group: operation.tags?.[0],
    })),
);

test.each(DECLARED_SLOS.map((slo) => [slo.name, slo] as const))(
  "SLO %s: each of its route patterns matches a route, and every route it covers is of its group",
  (_, slo) => {
    for (const pattern of slo.routes) {
      const alone = defineSlo({ name: pattern, group: slo.group, routes: [pattern], sli: slo.sli, objective: 0.9 });
      expect({ pattern, matches: ROUTES.some(({ template }) => alone.coversRoute(template)) }).toEqual({
        pattern,
        matches: true,
      });
    }
    const groups = ROUTES.filter(({ template }) => slo.coversRoute(template)).map(({ group }) => group);
    expect(new Set(groups)).toEqual(new Set([slo.group]));
  },
);

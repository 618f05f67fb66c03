import { afterAll, beforeAll, describe, expect, test } from "bun:test";

type Json = unknown;

import { validate } from "@scalar/openapi-parser";
import { Elysia } from "elysia";
import { ERROR_CODES } from "../lib/core/error-codes.ts";
import { buildApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { OPENAPI_PATH, renderOpenApiDocument } from "./build-openapi.ts";
import { errorCodesOf, generateOpenApiDocument, openApiMethodOf, openApiPathOf } from "./openapi-document.ts";
import { loadRouteGroups } from "./route-groups.ts";

// Building every group and rendering its schemas takes a few seconds on a loaded machine.
const BUILD_TIMEOUT_MS = 60_000;
const generated = await renderOpenApiDocument();
const document = JSON.parse(generated);

describe("openapi.json", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("the committed document is what `bun run build:openapi` produces now", async () => {
    expect(await Bun.file(OPENAPI_PATH).text()).toBe(generated);
  });

  test("validates as OpenAPI 3.1 with no error", async () => {
    const result = await validate(generated);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.version).toBe("3.1");
  });

  test(
    "has every route of the route table with its method, parameters, body, answers and security",
    async () => {
      const routes = buildApp(runtime, await loadRouteGroups()).routes.routes;
      expect(routes.length).toBeGreaterThan(20);
      for (const route of routes) {
        const operation = document.paths[openApiPathOf(route.path)]?.[openApiMethodOf(route.method)];
        expect({ route: route.key, present: operation !== undefined }).toEqual({ route: route.key, present: true });
        const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]);
        expect(
          (operation.parameters ?? [])
            .filter((p: { in: string }) => p.in === "path")
            .map((p: { name: string }) => p.name),
        ).toEqual(expect.arrayContaining(pathParams));
        if (route.policy.body === "none") expect(operation.requestBody).toBeUndefined();
        if (operation.requestBody !== undefined)
          expect(Object.keys(operation.requestBody.content).sort()).toEqual([...route.policy.accepts].sort());
        const validated = (operation.parameters?.length ?? 0) > 0 || operation.requestBody !== undefined;
        const statuses = [...new Set(errorCodesOf(route, validated).map((code) => String(ERROR_CODES[code].status)))];
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(statuses));
        const schemes = operation.security.flatMap((requirement: object) => Object.keys(requirement));
        const expected: string[] = {
          public: [],
          user: ["accessToken"],
          key: ["apiKey"],
          "user-or-key": ["accessToken", "apiKey"],
          admin: ["adminToken"],
          cron: ["cronSecret"],
        }[route.policy.access];
        if (route.policy.metricsToken) expected.push("metricsToken");
        expect({ route: route.key, schemes }).toEqual({ route: route.key, schemes: expected });
        for (const requirement of operation.security)
          if ("apiKey" in requirement) expect(requirement.apiKey).toEqual([...route.policy.scopes]);
        expect(operation["x-rateLimits"].map((rule: { limit: number }) => rule.limit)).toEqual(
          route.policy.rateLimits.map((rule) => rule.limit),
        );
      }
    },
    BUILD_TIMEOUT_MS,
  );

  test("an org-bound route answers 401, 403, 404, 422 and 429 and renders its UUID parameter as format uuid", () => {
    const operation = document.paths["/v1/orgs/{orgId}/keys"].get;
    expect(Object.keys(operation.responses)).toEqual(
      expect.arrayContaining(["401", "403", "404", "422", "429", "503", "504"]),
    );
    expect(operation.security).toEqual([{ accessToken: [] }, { apiKey: ["keys:read"] }]);
    expect(operation.parameters[0].schema).toEqual({ type: "string", format: "uuid" });
    expect(generated).not.toContain('"$schema"');
  });

  test("the error envelope is one shared component carrying the code table", () => {
    const envelope = document.components.schemas.ErrorEnvelope;
    expect(envelope["x-error-codes"]).toEqual(ERROR_CODES);
    expect(envelope.properties.error.properties.code.enum).toEqual(Object.keys(ERROR_CODES));
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual([
      "accessToken",
      "adminToken",
      "apiKey",
      "cronSecret",
      "metricsToken",
    ]);
  });

  test("a deprecated route is marked deprecated, with its sunset and its 410 GONE answer", () => {
    const retiring = defineRouteGroup("retiring", () =>
      new Elysia().use(policyPlugin).get("/v1/old", () => ({}), {
        public: { deprecated: { since: "2027-01-01", sunset: "2027-07-01" } },
      }),
    );
    const operation = (generateOpenApiDocument([retiring]) as { paths: Record<string, Record<string, Json>> }).paths[
      "/v1/old"
    ]?.get as { deprecated?: boolean; "x-sunset"?: string; responses: Record<string, unknown> };
    expect(operation.deprecated).toBe(true);
    expect(operation["x-sunset"]).toBe("2027-07-01T00:00:00.000Z");
    expect(Object.keys(operation.responses)).toContain("410");
    expect(document.paths["/v1/orgs/{orgId}/keys"].get.deprecated).toBeUndefined();
  });

  test("errors a handler declares beyond its policy's, such as 409, are listed", () => {
    expect(Object.keys(document.paths["/v1/auth/signup"].post.responses)).toContain("409");
    expect(Object.keys(document.paths["/v1/orgs/{orgId}/members"].post.responses)).toContain("409");
    expect(Object.keys(document.paths["/v1/orgs/{orgId}"].get.responses)).not.toContain("409");
  });
});

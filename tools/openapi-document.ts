/**
 * The OpenAPI 3.1 document of every route group: paths, parameters and bodies rendered from the routes' arktype
 * schemas by @elysiajs/openapi, then security, rate limits and error answers added from each route's policy.
 */
import { toOpenAPISchema } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { ERROR_CODES, type ErrorCode } from "../lib/core/error-codes.ts";
import type { ResolvedPolicy } from "../lib/core/route-policy.ts";
import type { RouteGroup } from "../lib/http/route-group.ts";
import { createRouteTable, type RouteEntry } from "../lib/http/route-table.ts";
import packageJson from "../package.json" with { type: "json" };
import { buildTimeRuntime } from "./build-time-runtime.ts";

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema / OpenAPI object is open-ended JSON.
type Json = any;
type Operation = Record<string, Json>;

const OPENAPI_VERSION = "3.1.2";
const ERROR_RESPONSE = { $ref: "#/components/schemas/ErrorEnvelope" };

/** Every credential travels as `Authorization: Bearer …`; the scheme names say which one a route takes. */
export const SECURITY_SCHEMES = {
  accessToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "A signed-in user's access token." },
  apiKey: {
    type: "http",
    scheme: "bearer",
    description: "An organization's API key; the requirement lists the scopes it must hold.",
  },
  adminToken: { type: "http", scheme: "bearer", description: "An operator's access token or ADMIN_TOKEN." },
  cronSecret: { type: "http", scheme: "bearer", description: "CRON_SECRET, sent by the scheduler." },
  metricsToken: {
    type: "http",
    scheme: "bearer",
    description: "METRICS_TOKEN, a scraper's; only GET /metrics takes it.",
  },
} as const;

/** The security requirements of an access kind: any one of them admits the call. */
function securityOf(policy: ResolvedPolicy): Record<string, readonly string[]>[] {
  switch (policy.access) {
    case "public":
      return [];
    case "user":
      return [{ accessToken: [] }];
    case "key":
      return [{ apiKey: policy.scopes }];
    case "user-or-key":
      return [{ accessToken: [] }, { apiKey: policy.scopes }];
    case "admin":
      return policy.metricsToken ? [{ adminToken: [] }, { metricsToken: [] }] : [{ adminToken: [] }];
    case "cron":
      return [{ cronSecret: [] }];
  }
}

/** The error answers a route's policy implies, by status; each lists the codes of that status it can give. */
export function errorCodesOf(route: RouteEntry, validated: boolean): ErrorCode[] {
  const { policy } = route;
  const codes: ErrorCode[] = [];
  if (policy.deprecated !== undefined) codes.push("GONE");
  if (policy.ipBlocks === "enforced") codes.push("IP_BLOCKED");
  if (policy.access !== "public") codes.push("UNAUTHORIZED", "FORBIDDEN");
  if (policy.humanVerification === "in-emergency") codes.push("HUMAN_VERIFICATION_REQUIRED");
  if (policy.recentAuthMs !== undefined) codes.push("REAUTHENTICATION_REQUIRED");
  if (policy.org !== undefined || route.path.includes("/:")) codes.push("NOT_FOUND");
  if (policy.body !== "none") codes.push("PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE");
  if (policy.body === "json") codes.push("INVALID_JSON");
  if (validated) codes.push("VALIDATION_FAILED");
  codes.push(...policy.errors);
  // Routes taking credentials count failed ones against the caller's address too.
  if (policy.rateLimits.length > 0 || policy.access !== "public") codes.push("RATE_LIMITED");
  codes.push("INTERNAL", "DEPENDENCY_UNAVAILABLE", "SHUTTING_DOWN", "TIMEOUT");
  return codes;
}

function errorResponsesOf(codes: readonly ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, statusCodes]) => [
      String(status),
      {
        description: statusCodes.join(", "),
        content: { "application/json": { schema: ERROR_RESPONSE } },
      },
    ]),
  );
}

/** The error envelope, its `code` an enum of the code table, which `x-error-codes` gives in full. */
function errorEnvelopeSchema(): Json {
  return {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message", "requestId", "timestamp"],
        properties: {
          code: { type: "string", enum: Object.keys(ERROR_CODES) },
          message: { type: "string" },
          details: { type: "object" },
          requestId: { type: "string" },
          timestamp: { type: "string", format: "date-time" },
        },
      },
    },
    "x-error-codes": ERROR_CODES,
  };
}

function isUuidBranch(schema: Json): boolean {
  return typeof schema === "object" && schema !== null && schema.format === "uuid";
}

/** Strips nested `$schema` and renders arktype's `string.uuid` (a pattern or the nil or max UUID) as `format: uuid`. */
function tidySchema(value: Json): Json {
  if (Array.isArray(value)) return value.map(tidySchema);
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value.anyOf) && value.anyOf.length > 0 && value.anyOf.every(isUuidBranch))
    return { type: "string", format: "uuid" };
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "$schema")
      .map(([key, inner]) => [key, tidySchema(inner)]),
  );
}

function rateLimitsOf(policy: ResolvedPolicy): Json[] {
  return policy.rateLimits.map((rule) => ({
    name: rule.name,
    limit: rule.limit,
    windowSeconds: rule.windowMs / 1000,
    scope: rule.scope,
    algorithm: rule.algorithm,
    onStoreFailure: rule.onStoreFailure,
    ...(rule.acrossRoutes ? { acrossRoutes: true } : {}),
  }));
}

/** The operation as rendered, with only the content types the route accepts and its policy's contract. */
function completeOperation(rendered: Operation, route: RouteEntry): Operation {
  const { "x-rampart-policy": _policy, "x-rampart-org": _org, requestBody, responses, ...operation } = rendered;
  const { policy } = route;
  const bodySchema = requestBody?.content?.["application/json"]?.schema;
  const validated = (operation.parameters?.length ?? 0) > 0 || bodySchema !== undefined;
  return {
    ...operation,
    ...(policy.body === "none" || bodySchema === undefined
      ? {}
      : {
          requestBody: {
            required: requestBody.required ?? false,
            content: Object.fromEntries([...policy.accepts].map((type) => [type, { schema: bodySchema }])),
          },
        }),
    responses: {
      ...(responses ?? { "2XX": { description: "Success." } }),
      ...errorResponsesOf(errorCodesOf(route, validated)),
    },
    security: securityOf(policy),
    "x-rateLimits": rateLimitsOf(policy),
    ...(policy.deprecated === undefined
      ? {}
      : { deprecated: true, "x-sunset": new Date(policy.deprecated.sunsetMs).toISOString() }),
  };
}

/** `/v1/orgs/:orgId` as OpenAPI writes it, `/v1/orgs/{orgId}`. */
export function openApiPathOf(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/** The operation's method: OpenAPI has none for WebSocket, so a `.ws()` route is the GET that asks to upgrade. */
export function openApiMethodOf(method: string): string {
  return method === "WS" ? "get" : method.toLowerCase();
}

/** Builds every group against a runtime that refuses I/O and renders the document. */
export function generateOpenApiDocument(groups: readonly RouteGroup[]): Json {
  const runtime = buildTimeRuntime("the OpenAPI build");
  const app = new Elysia();
  // Each operation is tagged with its route group, which the docs page shows as a section.
  const groupOf = new Map<string, string>();
  for (const group of groups) {
    const built = group.build(runtime);
    for (const route of built.routes) groupOf.set(`${route.method.toUpperCase()} ${route.path}`, group.name);
    app.use(built);
  }
  const table = createRouteTable(app.routes.filter((route) => route.method !== "OPTIONS"));
  const rendered = toOpenAPISchema(app, { staticFile: false }, undefined, undefined, OPENAPI_VERSION);
  const paths: Record<string, Record<string, Operation>> = {};
  for (const route of table.routes) {
    const path = openApiPathOf(route.path);
    const rendersAs = route.method.toLowerCase();
    const operation = rendered.paths[path]?.[rendersAs as "get"] as Operation | undefined;
    if (operation === undefined) throw new Error(`route ${route.key} is missing from the rendered document`);
    const completed = completeOperation(tidySchema(operation), route);
    const method = openApiMethodOf(route.method);
    if (method !== rendersAs) completed["x-websocket"] = true;
    paths[path] = { ...paths[path], [method]: { tags: [groupOf.get(route.key) ?? "other"], ...completed } };
  }
  return {
    openapi: OPENAPI_VERSION,
    info: { title: "Rampart", version: packageJson.version },
    tags: groups.map(({ name }) => ({ name })),
    paths,
    components: {
      schemas: { ...tidySchema(rendered.components.schemas), ErrorEnvelope: errorEnvelopeSchema() },
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

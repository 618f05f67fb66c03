import { expect, test } from "bun:test";
import { Elysia } from "elysia";
import type { RoutePolicy } from "../core/route-policy.ts";
import { policyPlugin } from "./policy-plugin.ts";
import { requestTargetOf } from "./request-target.ts";
import { createRouteTable } from "./route-table.ts";

const open: RoutePolicy = { access: "public", rateLimits: [] };

// Declared in this order on purpose: a wildcard before a parameter at the same place, a static route
// beside a parameter route, a path declared with its trailing slash, a method Elysia takes for any, a HEAD route beside
// its GET.
const ROUTES: readonly [method: string, path: string][] = [
  ["GET", "/"],
  ["GET", "/v1/orgs"],
  ["POST", "/v1/orgs"],
  ["GET", "/v1/orgs/mine"],
  ["GET", "/v1/orgs/:orgId"],
  ["PATCH", "/v1/orgs/:orgId"],
  ["GET", "/v1/orgs/:orgId/keys"],
  ["DELETE", "/v1/orgs/:orgId/keys/:keyId"],
  ["GET", "/.well-known/jwks.json"],
  ["GET", "/assets/*"],
  ["GET", "/assets/:file"],
  ["GET", "/docs/"],
  ["PUT", "/things/:id/"],
  ["ALL", "/any/:name"],
  ["HEAD", "/pages/:page"],
  ["GET", "/pages/:page"],
  ["HEAD", "/status"],
  ["GET", "/status"],
];

const PATHS = [
  "/",
  "//",
  "/v1/orgs",
  "/v1/orgs/",
  "/v1/orgs//",
  "/V1/orgs",
  "/v1/orgs/mine",
  "/v1/orgs/mine/",
  "/v1/orgs/mine%2F",
  "/v1/%6Frgs/mine",
  "/v1/orgs/o1",
  "/v1/orgs/o1/",
  "/v1/orgs/o%2F1",
  "/v1/orgs/a.b.c",
  "/v1/orgs/a.b/keys",
  "/v1/orgs/a.b/keys/k.1",
  "/v1/orgs/o%2F1/keys/k%2F1/",
  "/v1/orgs//keys",
  "/v1/orgs/mine/keys",
  "/.well-known/jwks.json",
  "/.well-known/jwksxjson",
  "/assets",
  "/assets/",
  "/assets/app.css",
  "/assets/a/b.js",
  "/docs",
  "/docs/",
  "/docs//",
  "/things/t1",
  "/things/t1/",
  "/things/t1//",
  "/any/x",
  "/any/x/",
  "/pages/p1",
  "/status",
];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PURGE"];

let app = new Elysia().use(policyPlugin);
for (const [method, path] of ROUTES)
  app = app.route(
    method,
    path,
    ({ set }) => {
      set.headers["x-route"] = `${method} ${path}`;
      return "";
    },
    { policy: open },
  );
const table = createRouteTable(app.routes);

/** The route Elysia's own router runs for the request, read back from the handler's echo. */
async function elysiaRouteOf(method: string, path: string): Promise<string | undefined> {
  const response = await app.handle(new Request(`http://localhost${path}`, { method }));
  return response.headers.get("x-route") ?? undefined;
}

function tableRouteOf(method: string, path: string): string | undefined {
  const target = requestTargetOf(new Request(`http://localhost${path}`, { method }));
  return table.find(method, target.path)?.key;
}

test.each(PATHS)("the route table finds the route Elysia runs for every method on %s", async (path) => {
  const elysia: Record<string, string | undefined> = {};
  const found: Record<string, string | undefined> = {};
  for (const method of METHODS) {
    elysia[method] = await elysiaRouteOf(method, path);
    found[method] = tableRouteOf(method, path);
  }
  expect(found).toEqual(elysia);
});

test.each(PATHS)("the 405 Allow list for %s names exactly the methods Elysia routes there", async (path) => {
  const routed: string[] = [];
  for (const method of METHODS) if ((await elysiaRouteOf(method, path)) !== undefined) routed.push(method);
  const allowed = table.allowedMethods(path);
  // A route for any method allows every method; the probe can only list the ones it tried.
  expect((allowed.includes("ALL") ? [...METHODS] : [...allowed]).sort()).toEqual(routed.sort());
});

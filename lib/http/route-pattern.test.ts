import { expect, test } from "bun:test";
import { routePatternSource } from "./route-pattern.ts";

const matches = (path: string, pathname: string) => new RegExp(routePatternSource(path)).test(pathname);

test("a parameter matches one segment, with or without a trailing slash", () => {
  expect(matches("/v1/orgs/:orgId", "/v1/orgs/o1")).toBe(true);
  expect(matches("/v1/orgs/:orgId", "/v1/orgs/o1/")).toBe(true);
  expect(matches("/v1/orgs/:orgId", "/v1/orgs/o1/keys")).toBe(false);
});

test("a wildcard matches the rest and dots are literal", () => {
  expect(matches("/cron/*", "/cron/a/b")).toBe(true);
  expect(matches("/health.json", "/healthxjson")).toBe(false);
});

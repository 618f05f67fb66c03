import { describe, expect, test } from "bun:test";
import { JSON_CONTENT_TYPE } from "../core/json-content-type.ts";
import { isJsonBody, jsonResponse, prepareHeaders } from "./json-response.ts";

const prepared = prepareHeaders([
  ["X-Frame-Options", "DENY"],
  ["cache-control", "no-store"],
  ["content-type", JSON_CONTENT_TYPE],
  ["vary", "Origin"],
]);

describe("jsonResponse", () => {
  test("answers with the body, the status and every prepared header", async () => {
    const response = jsonResponse({ id: "o_1", tags: ["a"] }, 201, prepared, {});
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ id: "o_1", tags: ["a"] });
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("content-type")).toBe(JSON_CONTENT_TYPE);
  });

  test(
    "headers set for this response are added; a prepared header keeps the " + "route's value whatever the handler set",
    () => {
      const response = jsonResponse({}, 200, prepared, {
        "ratelimit-remaining": 9,
        "cache-control": "public, max-age=60",
        "X-Frame-Options": "ALLOWALL",
        vary: "Origin",
      });
      expect(response.headers.get("ratelimit-remaining")).toBe("9");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("vary")).toBe("Origin");
    },
  );

  test("never changes the prepared headers it starts from", () => {
    jsonResponse({}, 200, prepared, { "x-request-id": "req-12345678", "cache-control": "private" });
    expect(prepared.headers.get("x-request-id")).toBeNull();
    expect(prepared.headers.get("cache-control")).toBe("no-store");
    expect(jsonResponse({}, 200, prepared, {}).headers.get("x-request-id")).toBeNull();
  });
});

describe("isJsonBody", () => {
  test("plain objects and arrays are JSON bodies; strings, null, dates, responses and class instances are not", () => {
    expect(isJsonBody({ a: 1 })).toBe(true);
    expect(isJsonBody(Object.create(null))).toBe(true);
    expect(isJsonBody([1, 2])).toBe(true);
    for (const value of ["{}", null, undefined, 1, new Date(), new Response("x"), new Map(), new (class Thing {})()])
      expect(isJsonBody(value)).toBe(false);
  });
});

import { describe, expect, test } from "bun:test";
import baseline from "../openapi.baseline.json" with { type: "json" };
import { renderOpenApiDocument } from "./build-openapi.ts";
import { findBreakingChanges } from "./check-openapi-breaks.ts";

// biome-ignore lint/suspicious/noExplicitAny: the document is edited as plain JSON.
const current = async (): Promise<any> => JSON.parse(await renderOpenApiDocument());
// biome-ignore lint/suspicious/noExplicitAny: the document is edited as plain JSON.
const createKeyBody = (document: any) =>
  document.paths["/v1/orgs/{orgId}/keys"].post.requestBody.content["application/json"].schema;

describe("the OpenAPI breaking-change gate", () => {
  test("passes the routes as they are against the committed baseline", async () => {
    expect(findBreakingChanges(baseline, await current())).toEqual([]);
  });

  test("fails on a removed response property", async () => {
    const before = await current();
    const schema = { type: "object", properties: { id: { type: "string" }, name: { type: "string" } } };
    before.paths["/v1/me"].get.responses["200"] = { description: "ok", content: { "application/json": { schema } } };
    const after = structuredClone(before);
    delete after.paths["/v1/me"].get.responses["200"].content["application/json"].schema.properties.name;
    expect(findBreakingChanges(before, after)).toEqual(["GET /v1/me: 200 response.name: removed"]);
  });

  test("fails on a removed operation, a newly required field and a narrowed type", async () => {
    const after = await current();
    delete after.paths["/v1/orgs/{orgId}/keys"].get;
    createKeyBody(after).required.push("rateLimitPerMinute");
    createKeyBody(after).properties.scopes.items.enum.shift();
    createKeyBody(after).properties.name.type = "null";
    expect(findBreakingChanges(baseline, after).sort()).toEqual(
      [
        "GET /v1/orgs/{orgId}/keys: removed",
        "POST /v1/orgs/{orgId}/keys: body.name: type narrowed from string to null",
        'POST /v1/orgs/{orgId}/keys: body: field "rateLimitPerMinute" is newly required',
        "POST /v1/orgs/{orgId}/keys: body.scopes[]: accepts fewer values",
      ].sort(),
    );
  });

  test("passes an additive change: a new optional field, a new route and a breaking shape under /v2", async () => {
    const after = await current();
    createKeyBody(after).properties.description = { type: "string" };
    after.paths["/v2/orgs/{orgId}/keys"] = { post: { ...after.paths["/v1/orgs/{orgId}/keys"].post } };
    after.paths["/v2/orgs/{orgId}/keys"].post.requestBody = {
      required: true,
      content: { "application/json": { schema: { type: "object", required: ["owner"] } } },
    };
    expect(findBreakingChanges(baseline, after)).toEqual([]);
  });
});

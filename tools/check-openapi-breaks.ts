/**
 * The breaking-change gate: compares the document the routes produce now with openapi.baseline.json, the
 * released contract, updated deliberately when a new major version ships. Exits 1 listing each break.
 * Usage: `bun tools/check-openapi-breaks.ts`.
 */
import { join } from "node:path";
import { renderOpenApiDocument } from "./build-openapi.ts";

export const OPENAPI_BASELINE_PATH = join(import.meta.dir, "..", "openapi.baseline.json");

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema / OpenAPI object is open-ended JSON.
type Json = any;

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

function typesOf(schema: Json): Set<string> {
  if (schema?.type === undefined) return new Set();
  return new Set(Array.isArray(schema.type) ? schema.type : [schema.type]);
}

/** Breaks in a request schema: a newly required field, a narrowed type, a dropped enum value. */
function requestBreaks(before: Json, after: Json, where: string): string[] {
  if (before === undefined || after === undefined) return [];
  const breaks: string[] = [];
  const beforeTypes = typesOf(before);
  const afterTypes = typesOf(after);
  if (afterTypes.size > 0 && [...beforeTypes].some((type) => !afterTypes.has(type)))
    breaks.push(`${where}: type narrowed from ${[...beforeTypes]} to ${[...afterTypes]}`);
  if (Array.isArray(after.enum)) {
    const dropped = (before.enum ?? []).filter((value: Json) => !after.enum.includes(value));
    if (before.enum === undefined || dropped.length > 0) breaks.push(`${where}: accepts fewer values`);
  }
  const required = new Set<string>(before.required ?? []);
  for (const field of after.required ?? [])
    if (!required.has(field)) breaks.push(`${where}: field "${field}" is newly required`);
  for (const [name, schema] of Object.entries(before.properties ?? {}))
    breaks.push(...requestBreaks(schema, after.properties?.[name], `${where}.${name}`));
  breaks.push(...requestBreaks(before.items, after.items, `${where}[]`));
  return breaks;
}

/** Breaks in a response schema: a removed property or a changed type clients parse. */
function responseBreaks(before: Json, after: Json, where: string): string[] {
  if (before === undefined) return [];
  if (after === undefined) return [`${where}: removed`];
  const breaks: string[] = [];
  const afterTypes = typesOf(after);
  if ([...typesOf(before)].some((type) => !afterTypes.has(type)) || afterTypes.size > typesOf(before).size)
    breaks.push(`${where}: type changed from ${[...typesOf(before)]} to ${[...afterTypes]}`);
  for (const [name, schema] of Object.entries(before.properties ?? {}))
    breaks.push(...responseBreaks(schema, after.properties?.[name], `${where}.${name}`));
  breaks.push(...responseBreaks(before.items, after.items, `${where}[]`));
  return breaks;
}

function operationBreaks(before: Json, after: Json, where: string): string[] {
  const breaks: string[] = [];
  const params = (operation: Json) =>
    new Map<string, Json>((operation.parameters ?? []).map((p: Json) => [`${p.in} ${p.name}`, p]));
  const beforeParams = params(before);
  for (const [key, param] of params(after)) {
    const old = beforeParams.get(key);
    if (param.required && !old?.required) breaks.push(`${where}: parameter ${key} is newly required`);
    breaks.push(...requestBreaks(old?.schema, param.schema, `${where}: parameter ${key}`));
  }
  const bodyBefore = before.requestBody?.content?.["application/json"]?.schema;
  const bodyAfter = after.requestBody?.content?.["application/json"]?.schema;
  if (!before.requestBody?.required && after.requestBody?.required) breaks.push(`${where}: the body is newly required`);
  breaks.push(...requestBreaks(bodyBefore, bodyAfter, `${where}: body`));
  for (const [status, response] of Object.entries<Json>(before.responses ?? {})) {
    const schema = response.content?.["application/json"]?.schema;
    if (schema?.$ref !== undefined) continue;
    breaks.push(
      ...responseBreaks(
        schema,
        after.responses?.[status]?.content?.["application/json"]?.schema,
        `${where}: ${status} response`,
      ),
    );
  }
  return breaks;
}

/**
 * Every change from `baseline` to `current` that would break a client of the baseline. A route under a major
 * version the baseline does not have yet (`/v2/…` before v2 ships) is not in it, so is free to change until released.
 */
export function findBreakingChanges(baseline: Json, current: Json): string[] {
  const breaks: string[] = [];
  for (const [path, operations] of Object.entries<Json>(baseline.paths ?? {})) {
    for (const method of METHODS.filter((m) => operations[m] !== undefined)) {
      const where = `${method.toUpperCase()} ${path}`;
      const after = current.paths?.[path]?.[method];
      if (after === undefined) breaks.push(`${where}: removed`);
      else breaks.push(...operationBreaks(operations[method], after, where));
    }
  }
  return breaks;
}

if (import.meta.main) {
  const baseline = await Bun.file(OPENAPI_BASELINE_PATH).json();
  const breaks = findBreakingChanges(baseline, JSON.parse(await renderOpenApiDocument()));
  for (const line of breaks) console.error(`breaking change: ${line}`);
  if (breaks.length > 0) {
    console.error(
      "Keep the old route and add the changed one under a new major version (/v2/…); replace " +
        "openapi.baseline.json only when a major version is released.",
    );
    process.exit(1);
  }
  console.log("openapi: no breaking change against openapi.baseline.json");
}

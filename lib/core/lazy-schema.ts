/**
 * Route schemas built on their first validation, not at import: arktype's import costs ~300 ms of a cold
 * start's CPU, which a function should pay on the first request that has input to check, not on every start.
 */
import type { Type } from "arktype";

export type Arktype = typeof import("arktype");

let arktype: Arktype | undefined;
// require, not import(): validation is synchronous, and a bundle leaves a required module unevaluated until then.
const loadArktype = (): Arktype => (arktype ??= require("arktype") as Arktype);

/** An arktype Type as a Standard Schema: Elysia validates and infers through `~standard`, OpenAPI renders it. */
export type LazySchema<T extends Type> = ((data: unknown) => ReturnType<T>) & { readonly "~standard": T["~standard"] };

/**
 * A schema whose arktype Type is built by `build` the first time it validates, renders or is called.
 * @example const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
 */
export function lazySchema<T extends Type>(build: (arktype: Arktype) => T): LazySchema<T> {
  let built: T | undefined;
  const schema = (): T => (built ??= build(loadArktype()));
  const standard = {
    version: 1,
    vendor: "arktype",
    validate: (value: unknown) => schema()["~standard"].validate(value),
    jsonSchema: {
      input: (options: unknown) => schema()["~standard"].jsonSchema.input(options as never),
      output: (options: unknown) => schema()["~standard"].jsonSchema.output(options as never),
    },
  };
  return Object.assign((data: unknown) => schema()(data), { "~standard": standard }) as unknown as LazySchema<T>;
}

import { describe, expect, test } from "bun:test";
import { GUARD_STEPS } from "./guard-chain.ts";

const STEP_NAMES = GUARD_STEPS.map((step) => step.name);

/** The names in a prose list, its parenthesised remarks dropped and its line breaks joined. */
function namesIn(list: string, separator: string | RegExp): string[] {
  let text = list.replace(/\s*\n\s*\*?\s*/g, " ");
  for (let previous = ""; previous !== text; ) {
    previous = text;
    text = text.replace(/\s*\([^()]*\)/g, "");
  }
  return text
    .split(separator)
    .map((name) => name.trim())
    .filter((name) => name !== "");
}

function between(text: string, start: string, end: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end, from + start.length);
  if (from === -1 || to === -1) throw new Error(`no text between "${start}" and "${end}"`);
  return text.slice(from + start.length, to);
}

describe("the guard order is documented from GUARD_STEPS", () => {
  test("the README's section on the guard chain lists the steps in their order", async () => {
    const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();
    const section = between(readme, "## Route policies and the guard chain", "\n## ");
    const list = between(section, "one list this sentence is tested against):", "; then the body is read");
    expect(namesIn(list, ",")).toEqual(STEP_NAMES);
  });

  test("lib/http/app.ts's module comment lists the steps in their order", async () => {
    const source = await Bun.file(`${import.meta.dir}/app.ts`).text();
    const list = between(source, "GUARD_STEPS (lib/http/guard-chain.ts):", "*   onParse:");
    expect(namesIn(list, "→")).toEqual(STEP_NAMES);
  });
});

import { expect, test } from "bun:test";
import { join } from "node:path";
import { createStdoutSink } from "./stdout-sink.ts";

test("lines written in one turn of the event loop go out in one write, in order", async () => {
  const writes: string[] = [];
  const sink = createStdoutSink((text) => writes.push(text));
  sink("one");
  sink("two");
  sink("three");
  expect(writes).toEqual([]);
  await new Promise((resolve) => setImmediate(resolve));
  expect(writes).toEqual(["one\ntwo\nthree\n"]);
  sink("four");
  await new Promise((resolve) => setImmediate(resolve));
  expect(writes).toEqual(["one\ntwo\nthree\n", "four\n"]);
});

test("lines still pending when the process exits are written before it ends", async () => {
  const script = `
    import { createStdoutSink } from ${JSON.stringify(join(import.meta.dir, "stdout-sink.ts"))};
    const sink = createStdoutSink();
    for (let i = 0; i < 1000; i++) sink("line " + i);
    process.exit(0);
  `;
  const child = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
  const output = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  const lines = output.trimEnd().split("\n");
  expect(lines).toHaveLength(1000);
  expect(lines.at(-1)).toBe("line 999");
});

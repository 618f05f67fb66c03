/**
 * The operations docs stay true: the deployment checklist names every variable the configuration reads,
 * and every test the incident runbook cites exists under that name, as does every route it names.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { envSchema } from "../lib/config/env.ts";

const ROOT = join(import.meta.dir, "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const CHECKLIST = "docs/operations/deployment-checklist.md";
const RUNBOOK = "docs/operations/incident-runbook.md";

test("the deployment checklist lists every environment variable the configuration reads", () => {
  const checklist = read(CHECKLIST);
  const missing = envSchema.props.map((p) => String(p.key)).filter((name) => !checklist.includes(`\`${name}`));
  expect(missing).toEqual([]);
});

test("every test the incident runbook cites exists, under the name it quotes", () => {
  const cited = [...read(RUNBOOK).matchAll(/\(test: ([\w./-]+\.test\.ts), "([^"]+)"\)/g)];
  expect(cited.length).toBeGreaterThanOrEqual(15);
  const wrong = cited
    .filter(([, file, name]) => !existsSync(join(ROOT, file ?? "")) || !read(file ?? "").includes(name ?? ""))
    .map(([citation]) => citation);
  expect(wrong).toEqual([]);
});

test("every route the runbook and the checklist name is in openapi.json", () => {
  const { paths } = JSON.parse(read("openapi.json")) as { paths: Record<string, Record<string, unknown>> };
  const named = [...`${read(RUNBOOK)}\n${read(CHECKLIST)}`.matchAll(/`(GET|POST|PATCH|PUT|DELETE) (\/[^`\s?]*)/g)];
  expect(named.length).toBeGreaterThanOrEqual(15);
  const unknown = named
    .filter(([, method, path]) => {
      const template = (path ?? "").replace(/:(\w+)/g, "{$1}");
      return paths[template]?.[(method ?? "").toLowerCase()] === undefined;
    })
    .map(([route]) => route);
  expect(unknown).toEqual([]);
});

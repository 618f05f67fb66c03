import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import type { StatusData } from "../lib/status/status-data.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { FIRING_SINCE, FIXTURE_NOW, seedStatusFixture } from "../test/status-fixture.ts";
import status, { STATUS_ASSETS_PATH, STATUS_CSP, STATUS_DATA_PATH } from "./status.ts";

describe("the public status page", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({ now: () => FIXTURE_NOW });
    await seedStatusFixture(runtime);
    app = buildApp(runtime, [status]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    app.fetch(new Request(`http://localhost${path}`, { headers }));

  test("the data names each SLO group's objectives, their SLIs and budgets, and the firing incident", async () => {
    const response = await get(STATUS_DATA_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=30");
    const data = (await response.json()) as StatusData;
    const orgs = data.groups.find(({ name }) => name === "orgs");
    // 1 request in 1000 failed: exactly the 99.9 % objective, the budget exactly spent.
    expect(orgs?.slos).toEqual([
      expect.objectContaining({ name: "orgs-availability", kind: "availability", objective: 0.999, window: "30d" }),
    ]);
    expect(orgs?.slos[0]?.sli).toBeCloseTo(0.999, 9);
    expect(orgs?.slos[0]?.budgetRemaining).toBeCloseTo(0, 6);
    const auth = data.groups.find(({ name }) => name === "auth");
    // 6 of 144 ten-minute samples failed entirely: 600 of 14 400 requests.
    expect(auth?.slos.find(({ kind }) => kind === "availability")?.sli).toBeCloseTo(1 - 600 / 14_400, 9);
    expect(data.incidents).toEqual([{ slo: "orgs-availability", severity: "page", since: FIRING_SINCE.toISOString() }]);
    expect(data.groups.find(({ name }) => name === "keys")?.slos[0]).toMatchObject({
      sli: null,
      budgetRemaining: null,
    });
  });

  test("the series gives a point per 15 minutes of the last day, with gaps where nothing was served", async () => {
    const data = (await (await get(STATUS_DATA_PATH)).json()) as StatusData;
    const auth = data.groups.find(({ name }) => name === "auth");
    const { time, availability, p95Ms } = auth?.series ?? { time: [], availability: [], p95Ms: [] };
    expect(time.length).toBeGreaterThanOrEqual(96);
    expect((time[1] ?? 0) - (time[0] ?? 0)).toBe(900);
    expect(availability.filter((value) => value === 0)).not.toHaveLength(0);
    expect(Math.max(...availability.filter((value) => value !== null))).toBe(1);
    // The worst hour's requests all sit in the 2.5–5 s bucket; otherwise 250–500 ms.
    expect(Math.max(...p95Ms.filter((value) => value !== null))).toBeGreaterThan(2500);
    expect(data.groups.find(({ name }) => name === "keys")?.series.availability.every((value) => value === null)).toBe(
      true,
    );
  });

  test("holds no route's latency detail, no alert details and no dedup key", async () => {
    const text = await (await get(STATUS_DATA_PATH)).text();
    for (const hidden of ["dedup", "/v1/", "rule", "burn"]) expect(text).not.toContain(hidden);
  });

  test("the page and its assets come from this origin under a CSP that admits no other", async () => {
    const page = await get("/status");
    expect(page.headers.get("content-security-policy")).toBe(STATUS_CSP);
    const html = await page.text();
    expect(html.match(/(?:src|href)="([^"]+)"/g)?.filter((attribute) => /https?:|\/\//.test(attribute))).toEqual([]);
    for (const asset of ["uPlot.iife.min.js", "uPlot.min.css", "status-page.js", "status-page.css"]) {
      expect(html).toContain(`${STATUS_ASSETS_PATH}/${asset}`);
      const response = await get(`${STATUS_ASSETS_PATH}/${asset}`, { "accept-encoding": "br" });
      expect({ asset, status: response.status, encoding: response.headers.get("content-encoding") }).toEqual({
        asset,
        status: 200,
        encoding: "br",
      });
    }
  });
});

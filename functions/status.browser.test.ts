import { expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import type { Browser } from "playwright-core";
import { buildApp } from "../lib/http/app.ts";
import type { StatusData } from "../lib/status/status-data.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { BROWSER_TEST_TIMEOUT_MS, launchChromium, openRecordedPage, type PageRecording } from "../test/browser.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { FIXTURE_NOW, seedStatusFixture } from "../test/status-fixture.ts";
import status, { STATUS_DATA_PATH } from "./status.ts";

// The README shows this file; UPDATE_DOCS_SCREENSHOT=1 refreshes it from the run.
const COMMITTED_SCREENSHOT = join(import.meta.dir, "..", "docs", "status-page.png");

describeWithServers(["chromium"], "the status page in headless Chromium", ({ beforeAll, afterAll }) => {
  let runtime: TestRuntime;
  let server: Server<undefined>;
  let browser: Browser;
  let recording: PageRecording;
  let origin: string;
  let data: StatusData;
  const screenshotPath = join(mkdtempSync(join(tmpdir(), "rampart-status-")), "status.png");

  beforeAll(async () => {
    runtime = await openTestRuntime({ now: () => FIXTURE_NOW });
    await seedStatusFixture(runtime);
    const app = buildApp(runtime, [status]);
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    origin = `http://127.0.0.1:${server.port}`;
    data = (await (await fetch(`${origin}${STATUS_DATA_PATH}`)).json()) as StatusData;
    browser = await launchChromium();
    recording = await openRecordedPage(browser, `${origin}/status`);
    await recording.page.waitForFunction(() => (window as { __statusReady?: boolean }).__statusReady === true, null, {
      timeout: 30_000,
    });
  }, BROWSER_TEST_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    server?.stop(true);
    await runtime?.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  test("shows a card per SLO with its SLI as the data gives it, and the open incident", async () => {
    const { page } = recording;
    const slos = data.groups.flatMap((group) => group.slos);
    expect(await page.locator(".slo-card").count()).toBe(slos.length);
    for (const slo of slos) {
      const card = page.locator(`.slo-card[data-slo="${slo.name}"]`);
      const expected = slo.sli === null ? "no traffic" : `${(slo.sli * 100).toFixed(3)} %`;
      expect(await card.locator(".slo-sli").textContent()).toBe(expected);
    }
    expect(await page.locator("#summary").textContent()).toBe("1 open incident(s)");
    expect(await page.locator("#incidents li").allTextContents()).toEqual([
      expect.stringContaining("orgs-availability (page)"),
    ]);
  });

  test("draws a chart per group on a canvas of the chart's size", async () => {
    const { page } = recording;
    expect(await page.locator(".group-chart").count()).toBe(data.groups.length);
    const canvas = page.locator('.group-chart[data-group="auth"] canvas');
    const box = await canvas.boundingBox();
    expect(box?.width).toBeGreaterThanOrEqual(320);
    expect(box?.height).toBeGreaterThanOrEqual(250);
  });

  test("loads with no console error, no uncaught error, no CSP violation and nothing from another origin", () => {
    expect(recording.consoleErrors).toEqual([]);
    expect(recording.pageErrors).toEqual([]);
    expect(recording.cspViolations).toEqual([]);
    expect(recording.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(recording.requests).toContain(`${origin}${STATUS_DATA_PATH}`);
  });

  test(
    "saves a screenshot of the rendered page",
    async () => {
      await recording.page.screenshot({ path: screenshotPath, fullPage: true });
      console.log(`screenshot: ${screenshotPath}`);
      expect(statSync(screenshotPath).size).toBeGreaterThan(20_000);
      if (process.env.UPDATE_DOCS_SCREENSHOT === "1") copyFileSync(screenshotPath, COMMITTED_SCREENSHOT);
    },
    BROWSER_TEST_TIMEOUT_MS,
  );
});

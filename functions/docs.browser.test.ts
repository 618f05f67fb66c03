import { expect, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import type { Browser } from "playwright-core";
import { buildApp } from "../lib/http/app.ts";
import type { RouteGroup } from "../lib/http/route-group.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { BROWSER_TEST_TIMEOUT_MS, launchChromium, openRecordedPage, type PageRecording } from "../test/browser.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { loadRouteGroups } from "../tools/route-groups.ts";

describeWithServers(["chromium"], "the docs page in headless Chromium", ({ beforeAll, afterAll }) => {
  let runtime: TestRuntime;
  let groups: RouteGroup[];
  let server: Server<undefined>;
  let browser: Browser;
  let recording: PageRecording;
  let origin: string;
  const screenshotPath = join(mkdtempSync(join(tmpdir(), "rampart-docs-")), "docs.png");

  beforeAll(async () => {
    runtime = await openTestRuntime();
    groups = await loadRouteGroups();
    // Every group, so the page renders the committed openapi.json that GET /openapi.json serves.
    const app = buildApp(runtime, groups);
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    origin = `http://127.0.0.1:${server.port}`;
    browser = await launchChromium();
    recording = await openRecordedPage(browser, `${origin}/docs`);
  }, BROWSER_TEST_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    server?.stop(true);
    await runtime?.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  test(
    "shows every route group of the document as a section",
    async () => {
      // Scalar links each tag of the document from its sidebar (an <aside>), named exactly as the group is.
      const sidebar = recording.page.getByRole("complementary");
      for (const { name } of groups)
        await sidebar.getByRole("link", { name, exact: true }).waitFor({ timeout: 30_000 });
      expect(groups.map(({ name }) => name)).toEqual(expect.arrayContaining(["docs", "openapi", "orgs", "webhooks"]));
    },
    BROWSER_TEST_TIMEOUT_MS,
  );

  test("loads with no console error, no uncaught error and no CSP violation", () => {
    expect(recording.consoleErrors).toEqual([]);
    expect(recording.pageErrors).toEqual([]);
    expect(recording.cspViolations).toEqual([]);
  });

  test("requests nothing from another origin", () => {
    expect(recording.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(recording.requests).toContain(`${origin}/openapi.json`);
  });

  test(
    "saves a screenshot of the rendered page",
    async () => {
      await recording.page.screenshot({ path: screenshotPath, fullPage: false });
      console.log(`screenshot: ${screenshotPath}`);
      expect(statSync(screenshotPath).size).toBeGreaterThan(20_000);
    },
    BROWSER_TEST_TIMEOUT_MS,
  );
});

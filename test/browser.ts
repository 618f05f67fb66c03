/**
 * Pages tested in a real browser: Debian's headless Chromium (installed by .ci/run), driven by playwright-core
 * through its executable path, so nothing downloads a browser. A page is opened with everything a user would
 * notice recorded: console errors, uncaught errors, CSP violations and every request it makes.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

/** TEST_CHROMIUM, which .ci/run sets once it has installed Debian's chromium. */
export const CHROMIUM_PATH = process.env.TEST_CHROMIUM || "/usr/bin/chromium";
/** Launching takes 1–3 s on an idle machine; a loaded CI machine gets far more before it counts as hung. */
export const BROWSER_LAUNCH_TIMEOUT_MS = 60_000;
/** For a test's own timeout: launch, a page load and a screenshot on a loaded machine. */
export const BROWSER_TEST_TIMEOUT_MS = 120_000;

export interface PageRecording {
  readonly page: Page;
  /** Console messages of type error, with their source location. */
  readonly consoleErrors: string[];
  /** Errors thrown and not caught by the page's scripts. */
  readonly pageErrors: string[];
  /** `securitypolicyviolation` events: the directive and the blocked URL (or "inline"). */
  readonly cspViolations: string[];
  /** Every URL the page requested, its own navigation included. */
  readonly requests: string[];
}

/**
 * Launches headless Chromium; a missing browser fails the test with how to install it, never skips it.
 * @example
 * const browser = await launchChromium();
 * try { const { page } = await openRecordedPage(browser, url); } finally { await browser.close(); }
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: run \`apt-get install -y chromium\` (.ci/run installs it).`,
    );
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: BROWSER_LAUNCH_TIMEOUT_MS,
    // Chromium's sandbox refuses to start as root, which CI runs as.
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}

// Runs in the page before its own scripts, so a violation during the first parse is reported too.
function reportCspViolations(): void {
  const report = (window as unknown as { reportCspViolation(violation: string): void }).reportCspViolation;
  document.addEventListener("securitypolicyviolation", (event) => {
    report(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"} (${event.sourceFile})`);
  });
}

/** Opens `url` in a fresh page and waits for the network to go quiet, recording what went wrong on the way. */
export async function openRecordedPage(
  browser: Browser,
  url: string,
  viewport = { width: 1280, height: 900 },
): Promise<PageRecording> {
  const page = await browser.newPage({ viewport });
  const recording: PageRecording = { page, consoleErrors: [], pageErrors: [], cspViolations: [], requests: [] };
  page.on("console", (message) => {
    if (message.type() === "error") recording.consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => recording.pageErrors.push(error.message));
  page.on("request", (request) => recording.requests.push(request.url()));
  await page.exposeFunction("reportCspViolation", (violation: string) => recording.cspViolations.push(violation));
  await page.addInitScript(reportCspViolations);
  await page.goto(url, { waitUntil: "networkidle", timeout: BROWSER_LAUNCH_TIMEOUT_MS });
  return recording;
}

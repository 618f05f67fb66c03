/**
 * The public status page at /status: SLO cards, availability and latency over time per route group, and open
 * incidents. Its data is a cacheable JSON route; uPlot and the page's script and stylesheet are served from this
 * origin, under a CSP that admits nothing else.
 */
import { Elysia } from "elysia";
import { STATUS_TAG } from "../lib/cache/cache-tags.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createStaticAsset } from "../lib/http/static-asset.ts";
import { readStatusData } from "../lib/status/status-data.ts";
import pageCssPath from "../lib/status/status-page.css" with { type: "file" };
import pageScriptPath from "../lib/status/status-page.js" with { type: "file" };
import uplotScriptPath from "../node_modules/uplot/dist/uPlot.iife.min.js" with { type: "file" };
import uplotCssPath from "../node_modules/uplot/dist/uPlot.min.css" with { type: "file" };
import uplotPackage from "../node_modules/uplot/package.json" with { type: "json" };

export const STATUS_DATA_PATH = "/status/data.json";
// The uPlot version in the path makes its asset URLs immutable.
export const STATUS_ASSETS_PATH = `/status/assets/${uplotPackage.version}`;

export const STATUS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const JAVASCRIPT = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rampart status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STATUS_ASSETS_PATH}/uPlot.min.css">
<link rel="stylesheet" href="${STATUS_ASSETS_PATH}/status-page.css">
</head>
<body>
<h1>Rampart status</h1>
<p id="summary">Loading…</p>
<p id="generated"></p>
<h2>Open incidents</h2>
<ul id="incidents"></ul>
<h2>Objectives</h2>
<div id="slos"></div>
<h2>Over time</h2>
<div id="charts"></div>
<script src="${STATUS_ASSETS_PATH}/uPlot.iife.min.js"></script>
<script src="${STATUS_ASSETS_PATH}/status-page.js"></script>
</body>
</html>
`;

const PAGE_POLICY: UserPolicy = {
  body: "none",
  timeout: "read",
  rateLimits: [{ name: "status", limit: 120, window: "1m", scope: "ip" }],
  cache: "public, max-age=60",
  headers: { "content-security-policy": STATUS_CSP },
};
// Our own script and stylesheet change with a release but keep their URL: an hour, not a year.
const OWN_ASSET_POLICY: UserPolicy = { ...PAGE_POLICY, cache: "public, max-age=3600" };
const UPLOT_ASSET_POLICY: UserPolicy = { ...PAGE_POLICY, cache: "public, max-age=31536000, immutable" };
// Read from the rollups: 30 s of staleness costs nothing and spares the database under a burst of viewers.
const DATA_POLICY: UserPolicy = {
  ...PAGE_POLICY,
  cache: { scope: "public", ttl: "30s", staleWhileRevalidate: "30s", staleIfError: "10m", tags: () => [STATUS_TAG] },
};

export default defineRouteGroup("status", (runtime) => {
  const uplotScript = createStaticAsset({ path: uplotScriptPath, contentType: JAVASCRIPT });
  const uplotCss = createStaticAsset({ path: uplotCssPath, contentType: CSS });
  const pageScript = createStaticAsset({ path: pageScriptPath, contentType: JAVASCRIPT });
  const pageCss = createStaticAsset({ path: pageCssPath, contentType: CSS });
  return new Elysia({ name: "status" })
    .use(policyPlugin)
    .get("/status", () => new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } }), {
      public: PAGE_POLICY,
    })
    .get(STATUS_DATA_PATH, () => readStatusData(runtime), { public: DATA_POLICY })
    .get(`${STATUS_ASSETS_PATH}/uPlot.iife.min.js`, ({ request }) => uplotScript(request), {
      public: UPLOT_ASSET_POLICY,
    })
    .get(`${STATUS_ASSETS_PATH}/uPlot.min.css`, ({ request }) => uplotCss(request), { public: UPLOT_ASSET_POLICY })
    .get(`${STATUS_ASSETS_PATH}/status-page.js`, ({ request }) => pageScript(request), { public: OWN_ASSET_POLICY })
    .get(`${STATUS_ASSETS_PATH}/status-page.css`, ({ request }) => pageCss(request), { public: OWN_ASSET_POLICY });
});

/**
 * The API reference at /docs: Scalar's browser bundle rendering /openapi.json, every byte from this origin.
 * The 4.7 MB bundle is a file beside this function only (tools/build-vercel.ts bundles each group apart).
 */
import { Elysia } from "elysia";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createStaticAsset } from "../lib/http/static-asset.ts";
import scalarBundlePath from "../node_modules/@scalar/api-reference/dist/browser/standalone.js" with { type: "file" };
import scalarPackage from "../node_modules/@scalar/api-reference/package.json" with { type: "json" };

export const OPENAPI_DOCUMENT_PATH = "/openapi.json";
// The version in the path makes each asset URL immutable: an upgrade changes the URL, never a cached file.
export const DOCS_ASSETS_PATH = `/docs/assets/${scalarPackage.version}`;
const BUNDLE_PATH = `${DOCS_ASSETS_PATH}/standalone.js`;
const START_PATH = `${DOCS_ASSETS_PATH}/start.js`;

// Scalar injects three <style> elements whose hashes are pinned per version (the browser test fails with the
// new hashes when an upgrade changes them). Its components also set style attributes whose values vary with
// the document: attributes cannot load anything (img-src and font-src still apply) nor run script.
const SCALAR_STYLE_HASHES = [
  "'sha256-QpRH++jfSE25E/ku5JwG+oucjRD32SqdyuYxGFVNDSA='",
  "'sha256-l/2OpPg0d+2VLTLgwjf5mQo2CYwHDEqdj5TjbfEyVJI='",
  "'sha256-T13Uev3xCax2N28XaoAE8DOzQZKvPp7ZQVAi1iRREjo='",
];
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  `style-src 'self' ${SCALAR_STYLE_HASHES.join(" ")}`,
  "style-src-attr 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

// No inline script: the CSP admits scripts from this origin only, so this file runs first and starts the UI
// once the bundle after it has loaded. Zod inside the bundle would probe for eval, a CSP violation, unless told
// to run without it. No default fonts, telemetry, request proxy or chat agent: each reaches another origin.
const START_SCRIPT = `globalThis.__zod_globalConfig = { jitless: true };
addEventListener("DOMContentLoaded", () => Scalar.createApiReference("#app", ${JSON.stringify({
  url: OPENAPI_DOCUMENT_PATH,
  withDefaultFonts: false,
  telemetry: false,
  hideClientButton: true,
  showDeveloperTools: "never",
  agent: { disabled: true },
})}));
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rampart API reference</title>
<link rel="icon" href="data:,">
</head>
<body>
<div id="app"></div>
<script src="${START_PATH}"></script>
<script src="${BUNDLE_PATH}"></script>
</body>
</html>
`;

const HTML_CONTENT_TYPE = "text/html; charset=utf-8";
const JAVASCRIPT_CONTENT_TYPE = "text/javascript; charset=utf-8";

const PAGE_POLICY: UserPolicy = {
  body: "none",
  timeout: "read",
  rateLimits: [{ name: "docs", limit: 120, window: "1m", scope: "ip" }],
  cache: "public, max-age=300",
  headers: { "content-security-policy": DOCS_CSP },
};
const ASSET_POLICY: UserPolicy = { ...PAGE_POLICY, cache: "public, max-age=31536000, immutable" };

export default defineRouteGroup("docs", () => {
  const bundle = createStaticAsset({ path: scalarBundlePath, contentType: JAVASCRIPT_CONTENT_TYPE });
  const start = new TextEncoder().encode(START_SCRIPT);
  return new Elysia({ name: "docs" })
    .use(policyPlugin)
    .get("/docs", () => new Response(PAGE, { headers: { "content-type": HTML_CONTENT_TYPE } }), { public: PAGE_POLICY })
    .get(BUNDLE_PATH, ({ request }) => bundle(request), { public: ASSET_POLICY })
    .get(START_PATH, () => new Response(start, { headers: { "content-type": JAVASCRIPT_CONTENT_TYPE } }), {
      public: ASSET_POLICY,
    });
});

/**
 * Runs before any test file: says which tests will be skipped, and makes (or reads) the PGlite template outside every
 * test's timeout.
 */
import { skippedServersNotice } from "./describe-with-servers.ts";
import { pgliteTemplate } from "./pglite-template.ts";

const notice = skippedServersNotice();
if (notice !== undefined) console.warn(notice);
await pgliteTemplate();

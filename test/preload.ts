/**
 * Runs before any test file: says which tests will be skipped, makes (or reads) the PGlite template outside every
 * test's timeout, and sets the default test timeout.
 */
import { setDefaultTimeout } from "bun:test";
import { skippedServersNotice } from "./describe-with-servers.ts";
import { pgliteTemplate } from "./pglite-template.ts";

// Bun's 5 s default is a ceiling an idle machine never nears but a loaded 2-core one can: a test that opens a
// database or runs a job is bounded by this unless it names its own timeout.
setDefaultTimeout(15_000);

const notice = skippedServersNotice();
if (notice !== undefined) console.warn(notice);
await pgliteTemplate();

/** Runs before any test file: makes (or reads) the PGlite template outside every test's timeout. */
import { pgliteTemplate } from "./pglite-template.ts";

await pgliteTemplate();

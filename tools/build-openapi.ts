/** `bun run build:openapi`: writes openapi.json, the committed document the /openapi.json route serves. */
import { join } from "node:path";
import { generateOpenApiDocument } from "./openapi-document.ts";
import { loadRouteGroups } from "./route-groups.ts";

export const OPENAPI_PATH = join(import.meta.dir, "..", "openapi.json");

/** The document as it is committed: two-space JSON with a final newline, so a route change is a readable diff. */
export async function renderOpenApiDocument(): Promise<string> {
  return `${JSON.stringify(generateOpenApiDocument(await loadRouteGroups()), null, 2)}\n`;
}

if (import.meta.main) {
  await Bun.write(OPENAPI_PATH, await renderOpenApiDocument());
  console.log(`wrote ${OPENAPI_PATH}`);
}

/** Where the load test writes its reports and finds the committed baseline. */
import { join } from "node:path";

export const ROOT_DIR = join(import.meta.dir, "..", "..");
export const RESULTS_DIR = join(ROOT_DIR, "bench", "results");
export const BASELINE_FILE = join(RESULTS_DIR, "loadtest-baseline.json");

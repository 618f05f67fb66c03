/**
 * Parses an exposition with the Prometheus project's own Python client (Debian's python3-prometheus-client):
 * the text 0.0.4 parser, or the strict OpenMetrics one, which refuses a body without `# EOF`.
 */
import type { ExpositionFormat } from "../lib/metrics/exposition.ts";

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  samples: ParsedSample[];
}

const SCRIPT = `
import json, sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
families = text_string_to_metric_families(sys.stdin.read())
print(json.dumps([{"name": f.name, "type": f.type, "samples": [
    {"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]} for f in families]))
`;

export async function parseExposition(text: string, format: ExpositionFormat): Promise<ParsedFamily[]> {
  const python = process.env.TEST_PROMETHEUS_PYTHON ?? "/usr/bin/python3";
  const run = Bun.spawn([python, "-c", SCRIPT, format], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
  const [output, errors, status] = await Promise.all([
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
    run.exited,
  ]);
  if (status !== 0) throw new Error(`the ${format} parser refused the exposition:\n${errors}`);
  return JSON.parse(output) as ParsedFamily[];
}

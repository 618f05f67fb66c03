// The public status page: reads /status/data.json (same origin) and renders the SLO cards, one uPlot chart per
// route group and the open incidents. Plain script, no build step: the CSP admits scripts from this origin only.

const CHART_HEIGHT = 300;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function percent(ratio, digits) {
  return ratio === null || ratio === undefined ? "no traffic" : `${(ratio * 100).toFixed(digits)} %`;
}

function sloCard(slo) {
  const card = element(
    "article",
    `slo-card ${slo.budgetRemaining !== null && slo.budgetRemaining < 0 ? "exhausted" : ""}`,
  );
  card.dataset.slo = slo.name;
  card.append(element("h3", "", slo.name));
  card.append(element("p", "slo-group", `${slo.group} · ${slo.kind} · ${slo.window}`));
  card.append(element("p", "slo-sli", percent(slo.sli, 3)));
  card.append(element("p", "slo-objective", `objective ${percent(slo.objective, 2)}`));
  const budget = slo.budgetRemaining === null ? null : Math.max(0, Math.min(1, slo.budgetRemaining));
  const meter = element("meter", "slo-budget");
  meter.min = 0;
  meter.max = 1;
  meter.low = 0.25;
  meter.optimum = 1;
  meter.value = budget ?? 1;
  card.append(meter);
  card.append(element("p", "slo-budget-text", `error budget left ${percent(slo.budgetRemaining, 1)}`));
  return card;
}

function incidentItem(incident) {
  const item = element("li", `incident ${incident.severity}`);
  item.textContent = `${incident.slo} (${incident.severity}) since ${new Date(incident.since).toUTCString()}`;
  return item;
}

function groupChart(container, group) {
  const section = element("section", "group-chart");
  section.dataset.group = group.name;
  section.append(element("h3", "", group.name));
  container.append(section);
  const width = Math.max(320, Math.min(760, container.clientWidth || 760));
  const { time, availability, p95Ms } = group.series;
  return new uPlot(
    {
      width,
      height: CHART_HEIGHT,
      scales: { x: { time: true }, availability: { range: [null, 100] }, latency: {} },
      series: [
        {},
        {
          label: "available %",
          scale: "availability",
          stroke: "#2f7d32",
          width: 2,
          value: (_, v) => v?.toFixed(3) ?? "–",
        },
        { label: "p95 ms", scale: "latency", stroke: "#1f5fa8", width: 1, value: (_, v) => v?.toFixed(1) ?? "–" },
      ],
      axes: [
        {},
        { scale: "availability", label: "available %" },
        { scale: "latency", side: 1, label: "p95 ms", grid: { show: false } },
      ],
    },
    [time, availability.map((ratio) => (ratio === null ? null : ratio * 100)), p95Ms],
    section,
  );
}

async function render() {
  const response = await fetch("/status/data.json", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`status data: HTTP ${response.status}`);
  const data = await response.json();
  const incidents = data.incidents;
  const summary = document.getElementById("summary");
  summary.textContent = incidents.length === 0 ? "All systems operational" : `${incidents.length} open incident(s)`;
  summary.className = incidents.length === 0 ? "operational" : "degraded";
  document.getElementById("generated").textContent = `updated ${new Date(data.generatedAt).toUTCString()}`;
  const list = document.getElementById("incidents");
  for (const incident of incidents) list.append(incidentItem(incident));
  const cards = document.getElementById("slos");
  for (const group of data.groups) for (const slo of group.slos) cards.append(sloCard(slo));
  const charts = document.getElementById("charts");
  for (const group of data.groups) groupChart(charts, group);
  window.__statusReady = true;
}

render().catch((error) => {
  document.getElementById("summary").textContent = "Status data unavailable";
  window.__statusError = String(error);
  throw error;
});

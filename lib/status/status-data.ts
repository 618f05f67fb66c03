/** What the public status page shows: no secrets, no raw paths, nothing per caller. */
export interface StatusSlo {
  name: string;
  group: string;
  kind: "availability" | "latency";
  objective: number;
  window: string;
  /** Good share over the window; null without traffic. */
  sli: number | null;
  /** Share of the error budget left (negative once overspent); null without traffic. */
  budgetRemaining: number | null;
}

export interface StatusGroup {
  name: string;
  slos: StatusSlo[];
  /** One point per hour: start (Unix seconds), non-5xx share and p95 latency; null where nothing was served. */
  series: { time: number[]; availability: (number | null)[]; p95Ms: (number | null)[] };
}

export interface StatusIncident {
  slo: string;
  severity: "page" | "ticket";
  since: string;
}

export interface StatusData {
  generatedAt: string;
  groups: StatusGroup[];
  incidents: StatusIncident[];
}

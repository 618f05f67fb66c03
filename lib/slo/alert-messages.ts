/**
 * What each channel is sent for an alert change: a Slack incoming-webhook message (`text` for notifications,
 * `blocks` for the layout), a PagerDuty Events API v2 event, and the body of the operator's signed webhook.
 */
import type { AlertChange } from "./slo-alerts.ts";

const PAGERDUTY_SOURCE = "rampart";

function summaryOf(change: AlertChange): string {
  const verb = change.event === "firing" ? "is burning its error budget" : "has recovered";
  return `[${change.severity}] SLO ${change.slo} (${change.sli}, objective ${change.objective * 100} %) ${verb}`;
}

function burnDetails(change: AlertChange): Record<string, number> {
  const details: Record<string, number> = {};
  for (const reading of change.readings) {
    const [long, short] = reading.rule.split("/");
    details[`burn${long}`] = Number(reading.burnLong.toFixed(3));
    details[`burn${short}`] = Number(reading.burnShort.toFixed(3));
  }
  return details;
}

/** `{ text, blocks }` for a Slack incoming webhook. */
export function slackMessageOf(change: AlertChange) {
  const text = `${change.event === "firing" ? ":rotating_light:" : ":white_check_mark:"} ${summaryOf(change)}`;
  const fields = Object.entries(burnDetails(change)).map(([name, value]) => ({
    type: "mrkdwn",
    text: `*${name}*\n${value}×`,
  }));
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      ...(fields.length === 0 ? [] : [{ type: "section", fields: fields.slice(0, 10) }]),
      { type: "context", elements: [{ type: "mrkdwn", text: `\`${change.dedupKey}\` at ${change.at}` }] },
    ],
  };
}

/** A PagerDuty Events API v2 event; a resolve names only the dedup key of the incident it closes. */
export function pagerdutyEventOf(change: AlertChange, routingKey: string) {
  if (change.event === "resolved")
    return { routing_key: routingKey, event_action: "resolve" as const, dedup_key: change.dedupKey };
  return {
    routing_key: routingKey,
    event_action: "trigger" as const,
    dedup_key: change.dedupKey,
    payload: {
      summary: summaryOf(change),
      source: PAGERDUTY_SOURCE,
      severity: change.severity === "page" ? ("critical" as const) : ("warning" as const),
      timestamp: change.at,
      component: change.group,
      group: change.group,
      class: change.sli,
      custom_details: { slo: change.slo, objective: change.objective, ...burnDetails(change) },
    },
  };
}

/** The operator webhook's body: the event type, as outbound webhooks name theirs, and the change itself. */
export function webhookBodyOf(change: AlertChange) {
  return { type: `slo.alert.${change.event}`, timestamp: change.at, data: change };
}

/** Reads every declared SLO's burn rates, moves its alerts' states, and sends the notifications that are due. */
import type { Runtime } from "../../runtime/runtime.ts";
import { enabledAlertChannels } from "../../slo/alert-channels.ts";
import { configuredChannels, createAlertDeliverer } from "../../slo/alert-delivery.ts";
import { DECLARED_SLOS } from "../../slo/declared-slos.ts";
import { rollupMinuteSource } from "../../slo/rollup-minute-source.ts";
import { evaluateSloAlerts } from "../../slo/slo-alerts.ts";
import type { Slo } from "../../slo/slo-declaration.ts";
import type { MinuteSource } from "../../slo/slo-events.ts";
import { endpointUrlOptionsOf } from "../../webhooks/endpoint-url.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export interface EvaluateSlosSources {
  slos: readonly Slo[];
  /** The cluster-wide route minutes of a runtime. */
  minutesOf(runtime: Runtime): MinuteSource;
}

/** The job over `sources`; tests pass synthetic minutes, the registry the rollup tables. */
export function createEvaluateSlosJob({ slos, minutesOf }: EvaluateSlosSources): ScheduledJob {
  return {
    name: "evaluate-slos",
    schedule: "* * * * *",
    async run(runtime, signal) {
      const now = new Date(runtime.now());
      const db = runtime.db.primary;
      const targets = [...configuredChannels(runtime.config.alertChannels), ...(await enabledAlertChannels(db))];
      const changes = await evaluateSloAlerts(db, slos, minutesOf(runtime), targets, now);
      const deliverer = createAlertDeliverer({
        db,
        config: runtime.config.alertChannels,
        logger: runtime.logger,
        encryptor: runtime.services.identity.encryptor,
        urlOptions: endpointUrlOptionsOf(runtime.config),
      });
      const sent = await deliverer.deliverDue(now, signal);
      const changed = changes.map((change) => `${change.dedupKey} ${change.event}`).join(", ") || "no change";
      const { delivered, failed, abandoned } = sent;
      return `${changed}; notifications: ${delivered} delivered, ${failed} failed, ${abandoned} abandoned`;
    },
  };
}

export const evaluateSlos = createEvaluateSlosJob({ slos: DECLARED_SLOS, minutesOf: rollupMinuteSource });

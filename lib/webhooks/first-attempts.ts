/**
 * The first attempts of a change's webhook messages, sent in the background once the change has committed;
 * the deliver-webhooks job is the retry path (and sends them if this send never happens).
 */
import type { IdentityRuntime } from "../auth/identity.ts";
import { createWaitUntil } from "../core/wait-until.ts";
import { createOutboundDeliverer, type OutboundDeliverer, type OutboundDeliveryOptions } from "./outbound-delivery.ts";

/**
 * A function that sends `orgId`'s due attempts after the answer. Call it only once the change has returned:
 * a rolled-back change wrote no message, so there is nothing of it to send.
 */
export function createFirstAttemptSender(runtime: IdentityRuntime, options: Partial<OutboundDeliveryOptions> = {}) {
  const waitUntil = createWaitUntil(runtime.logger);
  // Made on first use: building the routes (the OpenAPI build) must not touch the database.
  let deliverer: OutboundDeliverer | undefined;
  return (orgId: string) => waitUntil((deliverer ??= createOutboundDeliverer(runtime, options)).deliverDueOf(orgId));
}

/**
 * What runs for a verified delivery, registered in code per (source kind, event type). A handler may run
 * again after a crash or a lost claim, so it must be safe to repeat; the inbox runs it once per success.
 */
import type { Runtime } from "../runtime/runtime.ts";
import type { WebhookKind } from "./webhook-secret.ts";

export interface WebhookDelivery {
  readonly id: number;
  readonly sourceId: string;
  readonly orgId: string;
  readonly kind: WebhookKind;
  readonly eventType: string;
  readonly externalId: string;
  /** The bytes as received and verified. */
  readonly body: Uint8Array;
  readonly attempt: number;
}

export type WebhookHandler = (delivery: WebhookDelivery, runtime: Runtime) => Promise<void>;

export interface WebhookHandlers {
  register(kind: WebhookKind, eventType: string, handler: WebhookHandler): void;
  find(kind: WebhookKind, eventType: string | null): WebhookHandler | undefined;
}

export function createWebhookHandlers(): WebhookHandlers {
  const handlers = new Map<string, WebhookHandler>();
  return {
    register(kind, eventType, handler) {
      const key = `${kind} ${eventType}`;
      if (handlers.has(key)) throw new Error(`a webhook handler for ${key} is already registered`);
      handlers.set(key, handler);
    },
    find: (kind, eventType) => (eventType === null ? undefined : handlers.get(`${kind} ${eventType}`)),
  };
}

/** The handlers the receiver and the sweeper run; an application registers its own at start-up. */
export const WEBHOOK_HANDLERS = createWebhookHandlers();

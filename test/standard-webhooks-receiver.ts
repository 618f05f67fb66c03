/**
 * A customer's webhook receiver as Standard Webhooks' own library writes it: each delivery is checked with
 * `new Webhook(secret).verify(body, headers)` for every secret it was given, one at a time, and answered 2xx
 * only when every one accepts it.
 */
import { Webhook, WebhookVerificationError } from "standardwebhooks";

export interface VerifiedDelivery {
  path: string;
  webhookId: string | null;
  /** Per secret given, in order: whether that secret alone verified the delivery. */
  verifiedBy: boolean[];
  /** What `verify` returned for the first secret that accepted it. */
  payload: { type?: string; data?: Record<string, unknown> } | undefined;
}

export interface StandardWebhooksReceiver {
  url(path?: string): string;
  readonly received: VerifiedDelivery[];
  /** The secrets the next deliveries are checked with. */
  secrets: string[];
  stop(): Promise<void>;
}

export function startStandardWebhooksReceiver(hostname = "127.0.0.1"): StandardWebhooksReceiver {
  const received: VerifiedDelivery[] = [];
  const state = { secrets: [] as string[] };
  const server = Bun.serve({
    hostname,
    port: 0,
    async fetch(request) {
      const body = await request.text();
      const headers = Object.fromEntries(request.headers);
      let payload: VerifiedDelivery["payload"];
      const verifiedBy = state.secrets.map((secret) => {
        try {
          payload ??= new Webhook(secret).verify(body, headers) as VerifiedDelivery["payload"];
          return true;
        } catch (error) {
          if (error instanceof WebhookVerificationError) return false;
          throw error;
        }
      });
      received.push({
        path: new URL(request.url).pathname,
        webhookId: headers["webhook-id"] ?? null,
        verifiedBy,
        payload,
      });
      const ok = verifiedBy.length > 0 && verifiedBy.every(Boolean);
      return new Response(ok ? "ok" : "unverified", { status: ok ? 200 : 400 });
    },
  });
  return {
    url: (path = "/hook") => `http://${hostname}:${server.port}${path}`,
    received,
    get secrets() {
      return state.secrets;
    },
    set secrets(value) {
      state.secrets = value;
    },
    stop: () => server.stop(true),
  };
}

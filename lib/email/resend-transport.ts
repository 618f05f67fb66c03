/**
 * Resend's `POST /emails` through the outbound client and its breaker. Resend honours `Idempotency-Key` for
 * 24 hours, so a retried POST cannot send the message twice: only with that header is the call retried.
 */
import type { Logger } from "../log/logger.ts";
import type { BreakerOptions } from "../resilience/breaker.ts";
import { createOutboundFetch } from "../resilience/outbound-fetch.ts";
import type { EmailMessage, EmailTransport } from "./email-message.ts";

export interface ResendTransportOptions {
  /** @default 5000 */
  timeoutMs: number;
  /** Retries after a failed attempt, safe because of the idempotency key. @default 2 */
  retries: number;
  /** @default 100 */
  baseDelayMs: number;
  breaker: Partial<BreakerOptions>;
}

export const DEFAULT_RESEND_TRANSPORT: ResendTransportOptions = {
  timeoutMs: 5_000,
  retries: 2,
  baseDelayMs: 100,
  breaker: {},
};

export class EmailRefusedError extends Error {
  override name = "EmailRefusedError";
  constructor(readonly status: number) {
    super(`the e-mail provider refused the message with ${status}`);
  }
}

export function createResendTransport(
  config: { apiKey: string; url: string; from: string },
  logger: Logger,
  options: Partial<ResendTransportOptions> = {},
): EmailTransport {
  const { timeoutMs, retries, baseDelayMs, breaker } = { ...DEFAULT_RESEND_TRANSPORT, ...options };
  const post = createOutboundFetch(logger, { timeoutMs, retries, baseDelayMs, breaker, throwOnRetryableStatus: true });
  const authorization = `Bearer ${config.apiKey}`;
  return {
    name: "resend",
    async send(message: EmailMessage, idempotencyKey: string) {
      const response = await post(config.url, {
        method: "POST",
        headers: { authorization, "content-type": "application/json", "idempotency-key": idempotencyKey },
        body: JSON.stringify({
          from: config.from,
          to: [message.to],
          subject: message.subject,
          text: message.text,
          html: message.html,
        }),
        idempotent: true,
      });
      await response.body?.cancel();
      // A 4xx is ours to fix (a revoked key, an unverified sender domain): retrying would not help.
      if (!response.ok) throw new EmailRefusedError(response.status);
    },
  };
}

/**
 * Sends messages after the answer, in the background: a request's timing must not tell whether a message went
 * out (password reset answers the same for unknown addresses), and a slow provider must not hold a sign-up.
 * A failed send is logged with the message's kind, never its address or link.
 */
import type { EmailConfig } from "../config/config.ts";
import { createWaitUntil } from "../core/wait-until.ts";
import type { Database } from "../db/database.ts";
import type { Logger } from "../log/logger.ts";
import { describeError } from "../log/redact.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import { createDatabaseMailbox } from "./database-mailbox.ts";
import type { EmailMessage, EmailTransport } from "./email-message.ts";
import { createResendTransport, type ResendTransportOptions } from "./resend-transport.ts";

export interface Mailer {
  readonly transport: EmailTransport["name"];
  /** Queues `message` for sending once the request has been answered; never throws. */
  send(message: EmailMessage): void;
  /** Resolves once every message queued so far has been sent or has failed (graceful shutdown, tests). */
  settled(): Promise<void>;
}

export interface MailerParts {
  readonly config: { readonly email: EmailConfig };
  readonly db: Database;
  readonly logger: Logger;
}

function openTransport({ config, db, logger }: MailerParts, resend: Partial<ResendTransportOptions>): EmailTransport {
  const email = config.email;
  if (email.provider === "resend") return createResendTransport(email, logger, resend);
  if (email.provider === "database") return createDatabaseMailbox(db.primary);
  return {
    name: "none",
    async send(message) {
      logger.warn("e-mail not sent: EMAIL_PROVIDER is not set", { kind: message.kind });
    },
  };
}

// One per runtime, made on first use: only the functions that send mail import this module at all.
const mailers = new WeakMap<MailerParts, Mailer>();

/** The runtime's mailer. */
export function mailerOf(runtime: MailerParts): Mailer {
  let mailer = mailers.get(runtime);
  if (mailer === undefined) {
    mailer = createMailer(runtime);
    mailers.set(runtime, mailer);
  }
  return mailer;
}

export function createMailer(parts: MailerParts, resend: Partial<ResendTransportOptions> = {}): Mailer {
  const transport = openTransport(parts, resend);
  const waitUntil = createWaitUntil(parts.logger);
  const pending = new Set<Promise<void>>();
  const metrics = metricsRegistry();
  const [sent, failed] = [
    metrics.series("email", { transport: transport.name, outcome: "sent" }),
    metrics.series("email", { transport: transport.name, outcome: "failed" }),
  ];
  return {
    transport: transport.name,
    send(message) {
      // One key per message: the provider's retries of it are one send.
      const delivery = transport
        .send(message, crypto.randomUUID())
        .then(() => sent.add(1))
        .catch((error: unknown) => {
          failed.add(1);
          parts.logger.error("e-mail not sent", {
            kind: message.kind,
            transport: transport.name,
            error: error instanceof Error ? describeError(error) : String(error),
          });
        })
        .finally(() => pending.delete(delivery));
      pending.add(delivery);
      waitUntil(delivery);
    },
    async settled() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
}

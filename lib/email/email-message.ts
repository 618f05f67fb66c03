/** What the e-mail senders take: one message to one address, in plain text and HTML. */

export interface EmailMessage {
  /** Normalised recipient address. */
  to: string;
  subject: string;
  text: string;
  html: string;
  /** What the message is, for logs and metrics; never its content, which holds a single-use link. */
  kind: "verify_email" | "reset_password" | "invitation";
}

/** One delivery mechanism: a provider's API, or the development mailbox. */
export interface EmailTransport {
  readonly name: "resend" | "database" | "none";
  /** Resolves once the provider has accepted the message; throws when it has not. */
  send(message: EmailMessage, idempotencyKey: string): Promise<void>;
}

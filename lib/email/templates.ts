/**
 * The messages Rampart sends, in plain text and HTML. Values a user chose (an organization's name, an address)
 * are escaped in HTML and stripped of line breaks in subjects; the link is the only secret a message holds.
 */
import type { EmailMessage } from "./email-message.ts";
import { escapeHtml } from "./escape-html.ts";

/** The page of the application that takes the token back, and how long it lives. */
export interface LinkedMessage {
  to: string;
  link: string;
  expiresInMinutes: number;
}

// One line, at most 100 characters: a name in a subject must not add a header or hide the rest.
const oneLine = (text: string) => text.replace(/[\r\n\u2028\u2029]+/g, " ").slice(0, 100);

function lifetime(minutes: number): string {
  if (minutes % 1440 === 0) return minutes === 1440 ? "1 day" : `${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? "1 hour" : `${minutes / 60} hours`;
  return `${minutes} minutes`;
}

function render(
  kind: EmailMessage["kind"],
  to: string,
  subject: string,
  paragraphs: { text: string; html: string }[],
  action: { label: string; link: string },
  footer: string,
): EmailMessage {
  const text = [...paragraphs.map((p) => p.text), `${action.label}: ${action.link}`, footer].join("\n\n");
  const html =
    `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">` +
    paragraphs.map((p) => `<p>${p.html}</p>`).join("") +
    `<p><a href="${escapeHtml(action.link)}">${escapeHtml(action.label)}</a></p>` +
    `<p style="color:#666;font-size:small">${escapeHtml(footer)}</p></body></html>`;
  return { kind, to, subject: oneLine(subject), text: `${text}\n`, html };
}

const plain = (text: string) => ({ text, html: escapeHtml(text) });

export function verifyEmailMessage({ to, link, expiresInMinutes }: LinkedMessage): EmailMessage {
  return render(
    "verify_email",
    to,
    "Confirm your e-mail address",
    [plain(`Confirm that ${to} is your address by opening the link below.`)],
    { label: "Confirm the address", link },
    `The link works once, for ${lifetime(expiresInMinutes)}. If you did not ask for it, ignore this message.`,
  );
}

export function passwordResetMessage({ to, link, expiresInMinutes }: LinkedMessage): EmailMessage {
  return render(
    "reset_password",
    to,
    "Reset your password",
    [plain("Someone asked to reset the password of your account. Choose a new one through the link below.")],
    { label: "Choose a new password", link },
    `The link works once, for ${lifetime(expiresInMinutes)}, and signs out every session of the account. ` +
      "If you did not ask for it, ignore this message: your password stays as it is.",
  );
}

export function invitationMessage(
  invitation: LinkedMessage & { orgName: string; role: string; inviterEmail: string | undefined },
): EmailMessage {
  const by = invitation.inviterEmail === undefined ? "" : ` by ${invitation.inviterEmail}`;
  // On one line in the text too: a name must not make a line of its own that reads like ours.
  const orgName = oneLine(invitation.orgName);
  return render(
    "invitation",
    invitation.to,
    `You are invited to join ${orgName}`,
    [plain(`You have been invited${by} to join ${orgName} as ${invitation.role}.`)],
    { label: "Accept the invitation", link: invitation.link },
    `The invitation can be accepted once, within ${lifetime(invitation.expiresInMinutes)}, ` +
      `by an account with the address ${invitation.to}.`,
  );
}

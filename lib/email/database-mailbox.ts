/**
 * The embedded transport of `bun dev`: messages are kept in the database and shown by `GET /dev/emails`, so
 * sign-up, reset and invitation links can be followed without a provider. Configuration refuses it in production.
 */
import { desc } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { devMailbox } from "../db/schema/index.ts";
import type { EmailTransport } from "./email-message.ts";

export const MAILBOX_PAGE = 50;

export function createDatabaseMailbox(db: Db): EmailTransport {
  return {
    name: "database",
    async send({ to, subject, text, html }) {
      await db.insert(devMailbox).values({ to, subject, text, html });
    },
  };
}

export interface MailboxEntry {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  createdAt: string;
}

/** The newest messages first. */
export async function listMailbox(db: Db): Promise<MailboxEntry[]> {
  const rows = await db.select().from(devMailbox).orderBy(desc(devMailbox.createdAt)).limit(MAILBOX_PAGE);
  return rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() }));
}

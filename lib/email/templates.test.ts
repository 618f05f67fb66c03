import { describe, expect, test } from "bun:test";
import { invitationMessage, passwordResetMessage, verifyEmailMessage } from "./templates.ts";

const LINK = "https://app.example.com/verify-email#token=abc_DEF-123";

describe("e-mail templates", () => {
  test("an organization's name is escaped in HTML and kept to one line in the subject and text", () => {
    const message = invitationMessage({
      to: "new@example.com",
      link: LINK,
      expiresInMinutes: 7 * 1440,
      orgName: `<img src=x onerror=alert(1)>\r\nBcc: victim@example.com & "Co"`,
      role: "admin",
      inviterEmail: "owner@example.com",
    });
    expect(message.html).not.toContain("<img");
    expect(message.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(message.html).toContain("&amp; &quot;Co&quot;");
    expect(message.subject).not.toMatch(/[\r\n]/);
    expect(message.text).not.toContain("\nBcc:");
    expect(message.text).toContain("within 7 days");
  });

  test("each message carries its link in text and HTML and says how long it works", () => {
    const verify = verifyEmailMessage({ to: "a@example.com", link: LINK, expiresInMinutes: 120 });
    const reset = passwordResetMessage({ to: "a@example.com", link: LINK, expiresInMinutes: 30 });
    expect(verify).toMatchObject({ kind: "verify_email", to: "a@example.com", subject: "Confirm your e-mail address" });
    expect(reset).toMatchObject({ kind: "reset_password", subject: "Reset your password" });
    for (const message of [verify, reset]) {
      expect(message.text).toContain(LINK);
      expect(message.html).toContain(`href="${LINK}"`);
    }
    expect(verify.text).toContain("for 2 hours");
    expect(reset.text).toContain("for 30 minutes");
  });
});

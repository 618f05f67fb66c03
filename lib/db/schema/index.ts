/** The whole drizzle schema; drizzle-kit generates migrations/ from it. */
export * from "./api-keys.ts";
export * from "./audit-events.ts";
export * from "./cache-purges.ts";
export * from "./email.ts";
export * from "./invitations.ts";
export * from "./job-runs.ts";
export * from "./metrics.ts";
export * from "./mfa.ts";
export * from "./oidc-identities.ts";
export * from "./organizations.ts";
export * from "./sessions.ts";
export * from "./signing-keys.ts";
export * from "./slo-alerts.ts";
export * from "./uploads.ts";
export * from "./users.ts";
export * from "./webhook-endpoints.ts";
export * from "./webhooks.ts";

/**
 * The service's SLOs, one list like the scheduled jobs': each names its route group and the route templates it
 * covers. They live here rather than in functions/ so the cron function evaluates them without importing every
 * route group (its cold start).
 */
import { defineSlo, type Slo } from "./slo-declaration.ts";

const AUTH_ROUTES = [
  "/v1/auth/signup",
  "/v1/auth/login",
  "/v1/auth/refresh",
  "/v1/auth/logout",
  "/v1/auth/password",
  "/v1/auth/sessions",
  "/v1/auth/sessions/*",
];

export const DECLARED_SLOS: readonly Slo[] = [
  defineSlo({
    name: "orgs-availability",
    group: "orgs",
    // Not "/v1/orgs/*": keys, audit and webhook routes live under it too, and have their own groups.
    routes: ["/v1/orgs", "/v1/orgs/:orgId", "/v1/orgs/:orgId/members*"],
    sli: { kind: "availability" },
    objective: 0.999,
  }),
  defineSlo({
    name: "keys-availability",
    group: "keys",
    routes: ["/v1/orgs/:orgId/keys*", "/v1/keys/*"],
    sli: { kind: "availability" },
    objective: 0.999,
  }),
  // Providers retry a failed delivery, but only for so long: a receiver that is down loses events.
  defineSlo({
    name: "webhooks-availability",
    group: "webhooks",
    routes: ["/v1/webhooks/:sourceId"],
    sli: { kind: "availability" },
    objective: 0.999,
  }),
  // The password sign-in routes; e-mail links, MFA and sign-in providers are functions of their own.
  defineSlo({
    name: "auth-availability",
    group: "auth",
    routes: AUTH_ROUTES,
    sli: { kind: "availability" },
    objective: 0.999,
  }),
  // Login and sign-up hash a password with argon2id (about 100 ms here): 1 s leaves room for a loaded instance.
  defineSlo({
    name: "auth-latency",
    group: "auth",
    routes: AUTH_ROUTES,
    sli: { kind: "latency", thresholdMs: 1000 },
    objective: 0.99,
  }),
];

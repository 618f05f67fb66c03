/**
 * Live streams of an organization's events (the outbox: keys, members, sessions) to its members and to its
 * keys holding `events:read`: Server-Sent Events on every platform, WebSocket where the server can upgrade.
 * Browsers open either with a single-use ticket (lib/live/live-tickets.ts), never a token in the URL.
 */
import { Elysia } from "elysia";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import { perIp, perKey, perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { createOriginCheck } from "../lib/guards/cors.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import {
  createEventFeed,
  DEFAULT_EVENT_FEED_OPTIONS,
  type EventFeed,
  type EventFeedOptions,
} from "../lib/live/event-feed.ts";
import { DEFAULT_LIVE_STREAM_OPTIONS, type LiveStreamOptions } from "../lib/live/live-stream.ts";
import { issueTicket, redeemTicket, TICKET_TTL_MS, type TicketClaims } from "../lib/live/live-tickets.ts";
import { sseResponse } from "../lib/live/sse-stream.ts";
import { grantOf, isGrantLive, type StreamGrant } from "../lib/live/stream-grant.ts";
import { WEBHOOK_EVENT_TYPES } from "../lib/outbox/webhook-outbox.ts";
import type { Runtime } from "../lib/runtime/runtime.ts";

export type LiveOptions = EventFeedOptions & LiveStreamOptions;

const LIVE_SCOPE = "events:read";
const LAST_EVENT_ID = /^(0|[1-9][0-9]{0,15})$/;

const streamFilters = (ark: Arktype) =>
  ({
    "+": "reject",
    "types?": ark.type("string").pipe((value, ctx) => {
      const types = value.split(",");
      const unknown = types.filter((type) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type));
      return unknown.length === 0 ? types : ctx.error(`types must be event types; unknown: ${unknown.join(", ")}`);
    }),
    "lastEventId?": ark.type("string").narrow((value, ctx) => LAST_EVENT_ID.test(value) || ctx.mustBe("an event id")),
  }) as const;
const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const streamQuery = lazySchema((ark) => ark.type(streamFilters(ark)));
const ticketStreamBody = lazySchema((ark) =>
  ark.type({
    "+": "reject",
    ticket: "0 < string <= 100",
    "types?": ark.type.enumerated(...WEBHOOK_EVENT_TYPES).array(),
    "lastEventId?": ark.type("string").narrow((value, ctx) => LAST_EVENT_ID.test(value) || ctx.mustBe("an event id")),
  }),
);

/** The id to resume after: the Last-Event-ID header (what EventSource sends) or the stream's own parameter. */
function lastEventIdOf(request: Request, fallback: string | undefined): number | undefined {
  const header = request.headers.get("last-event-id")?.trim();
  if (header !== undefined && header !== "") {
    if (!LAST_EVENT_ID.test(header)) throw new AppError("BAD_REQUEST", "Last-Event-ID must be an event id.");
    return Number(header);
  }
  return fallback === undefined ? undefined : Number(fallback);
}

/** The ticket's claims when it admits a stream from `origin`; every refusal is the same 401. */
export async function redeemForStream(
  runtime: Runtime,
  isAllowedOrigin: (origin: string | null) => boolean,
  ticket: string | undefined,
  origin: string | null,
): Promise<TicketClaims> {
  const claims = ticket === undefined ? undefined : await redeemTicket(runtime.store, ticket, runtime.now());
  if (claims === undefined || !claims.scopes.includes(LIVE_SCOPE))
    throw new AppError("UNAUTHORIZED", "A valid, unused live ticket is required.");
  // Cross-site WebSocket hijacking: a page elsewhere cannot use a ticket asked for from an allowed origin.
  if (origin !== claims.origin || (origin !== null && !isAllowedOrigin(origin)))
    throw new AppError("FORBIDDEN", "This origin may not open the stream.");
  return claims;
}

export function liveRoutes(options: Partial<LiveOptions> = {}): RouteGroup {
  const settings: LiveOptions = { ...DEFAULT_EVENT_FEED_OPTIONS, ...DEFAULT_LIVE_STREAM_OPTIONS, ...options };
  return defineRouteGroup("live", (runtime) => {
    // Made on first use: building the routes (the OpenAPI build) must not touch the database.
    let feed: EventFeed | undefined;
    const feedOf = () => (feed ??= createEventFeed({ ...runtime, db: runtime.db.primary }, settings));
    const isAllowedOrigin = createOriginCheck(runtime.settings);
    const stream = (grant: StreamGrant, types: readonly string[] | undefined, lastEventId: number | undefined) =>
      sseResponse({
        feed: feedOf(),
        subscribe: { orgId: grant.orgId, types: types === undefined ? undefined : new Set(types), lastEventId },
        isGrantLive: () => isGrantLive(runtime.db.primary, runtime.services.identity, grant, runtime.now()),
        options: settings,
        logger: runtime.logger,
      });
    return new Elysia({ name: "live" })
      .use(policyPlugin)
      .post(
        "/v1/orgs/:orgId/live/tickets",
        async ({ caller, org, request, set }) => {
          const origin = request.headers.get("origin");
          const claims = { grant: grantOf(caller, org.id), scopes: [LIVE_SCOPE], origin };
          const { ticket, expiresAt } = await issueTicket(runtime.store, claims, runtime.now());
          set.status = 201;
          return { ticket, expiresAt: new Date(expiresAt).toISOString(), expiresIn: TICKET_TTL_MS / 1000 };
        },
        {
          userOrKey: { ...WRITE_NO_BODY, scopes: [LIVE_SCOPE], rateLimits: [perUser(60, "1m"), perKey(60, "1m")] },
          org: "orgId",
          params: orgParams,
        },
      )
      .get(
        "/v1/orgs/:orgId/events",
        ({ caller, org, query, request }) =>
          stream(grantOf(caller, org.id), query.types, lastEventIdOf(request, query.lastEventId)),
        {
          userOrKey: { ...READ, scopes: [LIVE_SCOPE], rateLimits: [perUser(60, "1m"), perKey(60, "1m")] },
          org: "orgId",
          params: orgParams,
          query: streamQuery,
        },
      )
      .post(
        "/v1/live/events",
        async ({ body, request }) => {
          const claims = await redeemForStream(runtime, isAllowedOrigin, body.ticket, request.headers.get("origin"));
          return stream(claims.grant, body.types, lastEventIdOf(request, body.lastEventId));
        },
        { public: { ...WRITE, rateLimits: [perIp(60, "1m")] }, body: ticketStreamBody },
      );
  });
}

export default liveRoutes();

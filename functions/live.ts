/**
 * Live streams of an organization's events (the outbox: keys, members, sessions) to its members and to its
 * keys holding `events:read`: Server-Sent Events on every platform, WebSocket where the server can upgrade.
 * Browsers open either with a single-use ticket (lib/live/live-tickets.ts), never a token in the URL.
 */
import type { ServerWebSocket } from "bun";
import { Elysia } from "elysia";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import { perIp, perKey, perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { requestContextOf } from "../lib/core/request-context.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { createOriginCheck } from "../lib/guards/cors.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import {
  type ConnectionCapOptions,
  type ConnectionLease,
  createConnectionCaps,
  DEFAULT_CONNECTION_CAPS,
} from "../lib/live/connection-caps.ts";
import { denoUpgradeWebSocket, upgradeOnDeno } from "../lib/live/deno-websocket.ts";
import {
  createEventFeed,
  DEFAULT_EVENT_FEED_OPTIONS,
  type EventFeed,
  type EventFeedOptions,
} from "../lib/live/event-feed.ts";
import { createLiveSocket, type LiveSocket, type SocketSink } from "../lib/live/live-socket.ts";
import {
  DEFAULT_LIVE_STREAM_OPTIONS,
  LIVE_CLOSE,
  type LiveFrames,
  type LiveStreamOptions,
  type LiveTransport,
  openLiveStream,
} from "../lib/live/live-stream.ts";
import { issueTicket, redeemTicket, TICKET_TTL_MS, type TicketClaims } from "../lib/live/live-tickets.ts";
import { createMessageBucket, DEFAULT_MESSAGE_RATE, type MessageRateOptions } from "../lib/live/message-rate.ts";
import { sseResponse } from "../lib/live/sse-stream.ts";
import { grantOf, isGrantLive, type StreamGrant } from "../lib/live/stream-grant.ts";
import { WEBHOOK_EVENT_TYPES } from "../lib/outbox/webhook-outbox.ts";
import type { Runtime } from "../lib/runtime/runtime.ts";

export type LiveOptions = EventFeedOptions &
  LiveStreamOptions & { messageRate: MessageRateOptions; connectionCaps: ConnectionCapOptions };

/** The application protocol a WebSocket client offers first; its ticket rides beside it as `ticket.<ticket>`. */
export const LIVE_PROTOCOL = "rampart.v1";
const TICKET_PROTOCOL_PREFIX = "ticket.";

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
// `ticket` is named only to be refused (and spent) with a clear error, not as a validation failure.
const socketQuery = lazySchema((ark) => ark.type({ ...streamFilters(ark), "ticket?": "string" }));
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

/** The offered subprotocols: whether the application's is among them, and the ticket if one rides along. */
function offeredProtocolsOf(request: Request): { live: boolean; ticket: string | undefined } {
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((protocol) => protocol.trim());
  const ticket = offered.find((protocol) => protocol.startsWith(TICKET_PROTOCOL_PREFIX));
  return { live: offered.includes(LIVE_PROTOCOL), ticket: ticket?.slice(TICKET_PROTOCOL_PREFIX.length) };
}

const subjectOf = (grant: StreamGrant) => (grant.kind === "user" ? `user:${grant.userId}` : `key:${grant.keyId}`);

export function liveRoutes(options: Partial<LiveOptions> = {}): RouteGroup {
  const settings: LiveOptions = {
    ...DEFAULT_EVENT_FEED_OPTIONS,
    ...DEFAULT_LIVE_STREAM_OPTIONS,
    messageRate: DEFAULT_MESSAGE_RATE,
    connectionCaps: DEFAULT_CONNECTION_CAPS,
    ...options,
  };
  return defineRouteGroup("live", (runtime) => {
    // Made on first use: building the routes (the OpenAPI build) must not touch the database.
    let feed: EventFeed | undefined;
    const feedOf = () => (feed ??= createEventFeed({ ...runtime, db: runtime.db.primary }, settings));
    const isAllowedOrigin = createOriginCheck(runtime.settings);
    const caps = createConnectionCaps(runtime.store, crypto.randomUUID(), settings.connectionCaps);
    const isLive = (grant: StreamGrant) => () =>
      isGrantLive(runtime.db.primary, runtime.services.identity, grant, runtime.now());
    // Handshakes admitted by their ticket, until the socket opens; then the socket's own state.
    const admitted = new WeakMap<Request, LiveSocket>();
    const sockets = new WeakMap<object, LiveSocket>();
    const admit = async (claims: TicketClaims, ip: string | undefined): Promise<ConnectionLease> => {
      const lease = await caps.acquire(subjectOf(claims.grant), ip);
      if (lease === undefined) throw new AppError("RATE_LIMITED", "Too many live streams are open.");
      return lease;
    };
    // Everything is refused here, before the upgrade: a refused handshake gets an HTTP error, never a socket.
    const handshake = async (request: Request): Promise<LiveSocket> => {
      const url = new URL(request.url);
      if (url.searchParams.has("ticket")) {
        // It has been in a URL, so in someone's logs: it is spent, whatever happens next.
        await redeemTicket(runtime.store, url.searchParams.get("ticket") ?? "", runtime.now());
        throw new AppError("BAD_REQUEST", "A ticket goes in the WebSocket subprotocol, never in the URL.");
      }
      const offered = offeredProtocolsOf(request);
      if (!offered.live) throw new AppError("BAD_REQUEST", `Offer the ${LIVE_PROTOCOL} subprotocol.`);
      const claims = await redeemForStream(runtime, isAllowedOrigin, offered.ticket, request.headers.get("origin"));
      const lease = await admit(claims, requestContextOf(request).clientIp);
      return createLiveSocket(claims, lease, createMessageBucket(settings.messageRate));
    };
    /** Opens the admitted socket's stream, filtered and resumed as its handshake asked. */
    const starter = (socket: LiveSocket, request: Request, query: { types?: string[]; lastEventId?: string }) => {
      // Read now: once Deno has upgraded, the request's headers are gone.
      const lastEventId = lastEventIdOf(request, query.lastEventId);
      return (transport: LiveTransport, frames: LiveFrames) =>
        openLiveStream({
          feed: feedOf(),
          subscribe: {
            orgId: socket.claims.grant.orgId,
            types: query.types === undefined ? undefined : new Set(query.types),
            lastEventId,
          },
          transport,
          frames,
          isGrantLive: isLive(socket.claims.grant),
          options: settings,
          logger: runtime.logger,
        });
    };
    const stream = (grant: StreamGrant, types: readonly string[] | undefined, lastEventId: number | undefined) =>
      sseResponse({
        feed: feedOf(),
        subscribe: { orgId: grant.orgId, types: types === undefined ? undefined : new Set(types), lastEventId },
        isGrantLive: isLive(grant),
        options: settings,
        logger: runtime.logger,
      });
    const routes = new Elysia({ name: "live" })
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
    const upgradeWebSocket = denoUpgradeWebSocket();
    if (upgradeWebSocket !== undefined)
      return routes.get(
        "/v1/live",
        async ({ request, query }) => {
          if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
            throw new AppError("BAD_REQUEST", "This route is a WebSocket: send Upgrade: websocket.");
          // A bad resume point is refused before the ticket is spent.
          lastEventIdOf(request, query.lastEventId);
          const socket = await handshake(request);
          const start = starter(socket, request, query);
          return upgradeOnDeno(upgradeWebSocket, request, LIVE_PROTOCOL, socket, start, (error) =>
            runtime.logger.error("live stream failed to open", { error }),
          );
        },
        { public: { ...READ, rateLimits: [perIp(60, "1m")] }, query: socketQuery },
      );
    return routes.ws("/v1/live", {
      public: { ...READ, rateLimits: [perIp(60, "1m")] },
      query: socketQuery,
      // (`upgrade`, not `beforeHandle`: Elysia would run a ws route's beforeHandle twice, spending the ticket.)
      async upgrade({ request, set }) {
        admitted.set(request, await handshake(request));
        // Only the application protocol is echoed: the ticket never comes back in a response header.
        set.headers["sec-websocket-protocol"] = LIVE_PROTOCOL;
      },
      async open(ws) {
        const socket = admitted.get(ws.data.request);
        if (socket === undefined) return ws.close(LIVE_CLOSE.policy, "not admitted");
        admitted.delete(ws.data.request);
        sockets.set(ws.raw, socket);
        const raw = ws.raw as unknown as ServerWebSocket<unknown>;
        const sink: SocketSink = {
          send: (frame, compress) => {
            raw.send(frame, compress);
            return raw.getBufferedAmount();
          },
          close: (code, reason) => raw.close(code, reason),
          ping: () => raw.ping(),
        };
        await socket.open(sink, starter(socket, ws.data.request, ws.data.query));
      },
      message(ws, message) {
        // Bun has refused anything over maxPayloadLength already.
        sockets.get(ws.raw)?.message(message, 0);
      },
      pong(ws) {
        sockets.get(ws.raw)?.pong();
      },
      close(ws) {
        sockets.get(ws.raw)?.closed();
      },
    });
  });
}

export default liveRoutes();

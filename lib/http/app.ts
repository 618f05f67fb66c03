/**
 * Builds the HTTP entry point from route groups. The guards run in this order, for every route:
 *
 *   outside Elysia: shutdown gate → request id → deadline (by method) → … → security headers,
 *                   X-Request-ID, one JSON log line
 *   onRequest:      CORS (preflight answered here) → route lookup, then GUARD_STEPS (lib/http/guard-chain.ts):
 *                   sunset (a deprecated route past its sunset date: 410) → client address → IP block (not
 *                   on admin routes, nor on routes exempt from it) → guess budget (API keys, admin and cron
 *                   secrets) → access (one strategy per access kind; a
 *                   refused key or secret spends the budget) → recent authentication (a user's
 *                   step-up window) → tenant (the path's org: a member's role or
 *                   the org's own key, else 404) → rate limits (per ip, user, org or key) → usage credits
 *                   (a key's usage limit) → body (declared size and type) → deadline (by route class) →
 *                   human verification (in emergency mode)
 *   onParse:        body read up to the route's limit → strict JSON (or the bytes, for `body: "raw"`)
 *   then:           schema validation (arktype) → handler → error envelope
 *   cached GETs:    after the guards the response cache (lib/cache/) answers, or keeps the handler's answer
 */
import type { Server } from "bun";
import { Elysia } from "elysia";
import { createAuthenticator } from "../auth/authenticate.ts";
import { createResponseCache, type ResponseCacheOptions } from "../cache/response-cache.ts";
import { JSON_CONTENT_TYPE } from "../core/json-content-type.ts";
import { openRequestContext, requestContextOf } from "../core/request-context.ts";
import { DEFAULT_POLICY } from "../core/route-policy.ts";
import { createWaitUntil } from "../core/wait-until.ts";
import { runInCommitScope } from "../db/commit-guard.ts";
import { AppError } from "../errors/app-error.ts";
import { errorResponse } from "../errors/envelope.ts";
import { createCronCheck } from "../guards/access.ts";
import { createAdminAccess } from "../guards/admin-access.ts";
import { createAuthFailureLimit } from "../guards/auth-failure-limit.ts";
import { mediaTypeOf, readBodyWithin } from "../guards/body-limit.ts";
import { createClientIpResolver } from "../guards/client-ip.ts";
import { corsHeadersOnEveryResponse, createCorsPlugin } from "../guards/cors.ts";
import { deprecationHeaders } from "../guards/deprecation.ts";
import { createHumanVerification } from "../guards/human-verification.ts";
import { parseJsonBody } from "../guards/json-body.ts";
import { createOrgBinder } from "../guards/org-binding.ts";
import { rateLimiterOf } from "../guards/rate-limit/open-rate-limiter.ts";
import { createRateLimitOverrides } from "../guards/rate-limit/rate-limit-overrides.ts";
import { applyHeaders, buildSecurityHeaders, type HeaderList, withOverrides } from "../guards/security-headers.ts";
import type { LogFields } from "../log/logger.ts";
import { describeError, pathRedactor } from "../log/redact.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { runInTrace } from "../trace/trace-context.ts";
import { createAccessStrategies } from "./access-strategies.ts";
import { createEntryEncoder } from "./cached-body-encoder.ts";
import { toAppError } from "./from-framework.ts";
import { GUARD_STEPS, type GuardContext, type GuardServices, type GuardStep } from "./guard-chain.ts";
import { isJsonBody, jsonResponse, type PreparedHeaders, prepareHeaders } from "./json-response.ts";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.ts";
import { assertAcceptableTarget, requestTargetOf } from "./request-target.ts";
import type { RouteGroup } from "./route-group.ts";
import { createRouteTable, type RouteTable } from "./route-table.ts";
import { traceOf } from "./traceparent.ts";

export interface RampartApp {
  /** The Web-standard handler: Bun.serve, Deno.serve and Vercel's Bun runtime all call this. */
  fetch(request: Request, server?: { requestIP(request: Request): { address: string } | null }): Promise<Response>;
  readonly routes: RouteTable;
  readonly inFlight: number;
  /**
   * Refuses new requests (503 SHUTTING_DOWN) and answers the rest with `Connection: close`; resolves when
   * in-flight ones are done. At the deadline the rest are abandoned: their transactions roll back and they
   * are answered 503, except one whose commit has begun, whose own answer is awaited up to `closeMs` more.
   */
  drain(deadlineMs: number, closeMs?: number): Promise<{ drained: boolean; abandoned: number }>;
}

// Responses from fetch() have immutable headers; copy only then.
function withRequestId(response: Response, requestId: string): Response {
  try {
    response.headers.set(REQUEST_ID_HEADER, requestId);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set(REQUEST_ID_HEADER, requestId);
    return copy;
  }
}

// A path no route matched is whatever the client sent: logged under one name, its secret-shaped segments redacted.
const UNMATCHED_ROUTE = "(unmatched)";
// Unmatched requests are counted per method, any method outside this list as OTHER: a client picks the method.
const UNMATCHED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

// Unexpected errors keep their stack (our code's frames); database errors and failed queries never carry values.
function describeUnexpected(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { value: String(error) };
  const described = describeError(error);
  return "message" in described && !("code" in described) ? { ...described, stack: error.stack } : described;
}

export interface AppOptions {
  responseCache?: Partial<ResponseCacheOptions>;
}

export function buildApp(runtime: Runtime, groups: readonly RouteGroup[], options: AppOptions = {}): RampartApp {
  const { logger, lifecycle, config, settings } = runtime;
  const defaultHeaders = buildSecurityHeaders({ hstsMaxAge: config.hstsMaxAge });
  const resolveClientIp = createClientIpResolver(config.trustProxy);
  const rateLimiter = rateLimiterOf(runtime);
  const rateLimitRulesFor = createRateLimitOverrides(settings);
  const ipBlocker = runtime.services.ipBlocker;
  const inBackground = createWaitUntil(logger);
  const metrics = metricsRegistry();
  const unmatchedRecorders = new Map(
    UNMATCHED_METHODS.map((method) => [method, metrics.route(UNMATCHED_ROUTE, method)]),
  );
  const unmatchedOther = metrics.route(UNMATCHED_ROUTE, "OTHER");
  const redactUnmatchedPath = pathRedactor({ apiKeyPrefix: config.auth.apiKeyPrefix });
  const authFailures = createAuthFailureLimit(rateLimiter, runtime.services.identity.apiKeys, (ip) =>
    inBackground(ipBlocker.recordViolation(ip)),
  );
  const authenticate = createAuthenticator(runtime.services.identity, config.auth);
  const verifyHuman = createHumanVerification(config.humanVerification, settings, logger);
  const adminAccess = createAdminAccess({
    adminToken: config.adminToken,
    metricsToken: config.metricsToken,
    authenticate,
    isOperator: runtime.services.operators.isOperator,
    logger,
  });
  const accessStrategies = createAccessStrategies({
    cronCheck: createCronCheck(config, logger),
    adminAccess,
    authenticate,
    authFailures,
  });
  const guardServices: GuardServices = {
    resolveClientIp,
    ipBlocker,
    authFailures,
    bindOrg: createOrgBinder(runtime),
    rateLimiter,
    rateLimitRulesFor,
    verifyHuman,
    credits: runtime.services.identity.apiKeys.credits,
    settings,
    inBackground,
    now: runtime.now,
  };
  let routeTable: RouteTable = createRouteTable([]);
  // Off where a CDN in front compresses: compressing twice is work for nothing.
  const compressJson = config.compression === "auto";
  const responseCache = createResponseCache(
    {
      store: runtime.store,
      logger,
      now: runtime.now,
      inBackground,
      refresh: (request, address) =>
        rampart.fetch(request, address === undefined ? undefined : { requestIP: () => ({ address }) }),
      encode: createEntryEncoder(compressJson),
    },
    options.responseCache,
  );

  const app = new Elysia({ name: "rampart" })
    .use(createCorsPlugin(settings))
    .onRequest(async ({ request, set }) => {
      const context = requestContextOf(request);
      const path = (context.path ??= requestTargetOf(request).path);
      // Elysia routes a GET asking to upgrade to the path's WebSocket route (`.ws()`), so the guards look there first.
      const route =
        (request.method === "GET" && request.headers.get("upgrade") === "websocket"
          ? routeTable.find("WS", path)
          : undefined) ?? routeTable.find(request.method, path);
      if (route === undefined) return;
      assertAcceptableTarget(request.url, path);
      const { policy } = route;
      context.route = route.path;
      context.policy = policy;
      context.recorder = route.recorder;
      const guard: GuardContext = {
        services: guardServices,
        request,
        set,
        path,
        route,
        policy,
        access: accessStrategies[policy.access],
        context,
        identity: { ip: "" },
        guess: undefined,
      };
      for (let i = 0; i < GUARD_STEPS.length; i++) {
        const pending = (GUARD_STEPS[i] as GuardStep).run(guard);
        if (pending !== undefined) await pending;
      }
      // After every guard: a cached answer is given only to a caller the route admits.
      if (policy.responseCache !== undefined) return responseCache.lookup(request, route, context);
    })
    .onParse({ as: "global" }, async ({ request }) => {
      const policy = requestContextOf(request).policy;
      const bytes = await readBodyWithin(request, policy?.bodyLimitBytes ?? DEFAULT_POLICY.bodyLimitBytes);
      if (policy?.body === "raw") return bytes;
      const mediaType = mediaTypeOf(request.headers.get("content-type"));
      if (mediaType === "application/json" || mediaType?.endsWith("+json"))
        return bytes.byteLength === 0 ? undefined : parseJsonBody(bytes);
      return new TextDecoder().decode(bytes);
    })
    .mapResponse({ as: "global" }, ({ responseValue, set, request }) => {
      // A JSON object or array, the usual success, is answered here on the route's prepared headers: one
      // native copy instead of Elysia's merge and a header-by-header pass. Anything else is left to Elysia.
      const status = set.status;
      if (typeof status !== "number" || status >= 400 || !isJsonBody(responseValue)) return;
      const context = requestContextOf(request);
      const prepared = context.route === undefined ? undefined : jsonHeadersFor.get(context.route);
      if (prepared === undefined) return;
      set.headers[REQUEST_ID_HEADER] = context.requestId;
      // Never on a HEAD or a 204 (no body), nor on a body its handler encoded itself; a cached route's body is
      // kept as identity text and compressed by the cache as it is sent.
      const compress =
        compressJson &&
        status !== 204 &&
        request.method !== "HEAD" &&
        set.headers["content-encoding"] === undefined &&
        context.policy?.responseCache === undefined;
      const acceptEncoding = compress ? request.headers.get("accept-encoding") : undefined;
      const response = jsonResponse(responseValue, status, prepared, set.headers, acceptEncoding);
      context.completeResponse = response;
      // Left as they were, Elysia would copy this response once more to merge them in.
      set.headers = {};
      set.status = 200;
      return response;
    })
    .onError({ as: "global" }, ({ code, error, request, set }) => {
      const context = requestContextOf(request);
      let { appError, unexpected } = toAppError(code, error);
      if (appError.code === "NOT_FOUND" && !(error instanceof AppError)) {
        const allow = routeTable.allowedMethods(context.path ?? requestTargetOf(request).path);
        if (allow.length > 0)
          appError = new AppError("METHOD_NOT_ALLOWED", undefined, undefined, { allow: allow.join(", ") });
      }
      const stale = responseCache.staleOnError(request, appError);
      if (stale !== undefined) {
        // Elysia gives a 200 Response the error's status unless told otherwise.
        set.status = stale.status;
        return stale;
      }
      if (unexpected)
        logger.error("unhandled error", {
          requestId: context.requestId,
          route: context.route,
          error: describeUnexpected(error),
        });
      return errorResponse(appError, context.requestId, new Headers());
    });
  for (const group of groups) app.use(group.build(runtime));
  // CORS preflight routes belong to the CORS guard, not to a route group.
  routeTable = createRouteTable(
    app.routes.filter((route) => route.method !== "OPTIONS" || route.hooks?.detail !== undefined),
  );

  const headersFor = new Map<string, HeaderList>();
  const jsonHeadersFor = new Map<string, PreparedHeaders>();
  const corsHeaders = corsHeadersOnEveryResponse();
  for (const route of routeTable.routes) {
    const list = [
      ...withOverrides(defaultHeaders, route.policy.headers),
      ...deprecationHeaders(route.policy.deprecated),
    ];
    headersFor.set(route.path, list);
    jsonHeadersFor.set(
      route.path,
      prepareHeaders([
        ...list,
        ...corsHeaders,
        ["cache-control", route.policy.cache],
        ["content-type", JSON_CONTENT_TYPE],
      ]),
    );
  }

  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  // One per request in flight, called when shutdown gives up on it.
  const abandonments = new Set<() => void>();

  const timeoutResponse = (requestId: string) => errorResponse(new AppError("TIMEOUT"), requestId, new Headers());
  const shuttingDownResponse = (requestId: string) => {
    const response = errorResponse(
      new AppError("SHUTTING_DOWN", undefined, undefined, { connection: "close", "retry-after": "1" }),
      requestId,
      new Headers(),
    );
    response.headers.set(REQUEST_ID_HEADER, requestId);
    return response;
  };

  const rampart: RampartApp = {
    routes: routeTable,
    get inFlight() {
      return inFlight;
    },
    async fetch(received, server) {
      let expire: ((ms: number) => void) | undefined;
      const { request, path } = requestTargetOf(received);
      const context = openRequestContext(request, requestIdFor(request), (_, ms) => expire?.(ms));
      context.path = path;
      const trace = traceOf(request.headers);
      let response: Response;
      if (lifecycle.shuttingDown) response = shuttingDownResponse(context.requestId);
      else {
        inFlight++;
        const method = request.method;
        context.setDeadline(settings.current().timeoutsMs[method === "GET" || method === "HEAD" ? "read" : "write"]);
        context.socketAddress = server?.requestIP(received)?.address;
        // A `.ws()` route upgrades through the server that received the request (Bun's; Elysia asks the root app).
        if (server !== undefined && "upgrade" in server && app.server === null) app.server = server as Server<unknown>;
        let abandon: () => void = () => {};
        // One promise settled by whichever comes first, the handler, the deadline or shutdown (cheaper than
        // Promise.race).
        const answered = new Promise<Response>((resolve, reject) => {
          expire = (ms) => {
            logger.warn("request deadline passed", {
              requestId: context.requestId,
              traceId: trace.traceId,
              route: context.route,
              deadlineMs: ms,
              pending: [...context.pending],
            });
            resolve(timeoutResponse(context.requestId));
          };
          abandon = () => {
            context.abandon(new AppError("SHUTTING_DOWN"));
            if (!context.commitStarted) resolve(shuttingDownResponse(context.requestId));
          };
          runInTrace(trace, () => runInCommitScope(context, () => app.handle(request))).then(resolve, reject);
        });
        abandonments.add(abandon);
        try {
          response = await answered;
          if (response !== context.completeResponse) response = withRequestId(response, context.requestId);
        } catch (error) {
          logger.error("unhandled error", {
            requestId: context.requestId,
            traceId: trace.traceId,
            error: describeUnexpected(error),
          });
          response = errorResponse(new AppError("INTERNAL"), context.requestId, new Headers());
          response.headers.set(REQUEST_ID_HEADER, context.requestId);
        } finally {
          abandonments.delete(abandon);
          context.clearDeadline();
          if (--inFlight === 0) onIdle?.();
        }
        if (context.policy?.responseCache !== undefined) {
          const completed = response === context.completeResponse;
          response = await responseCache.complete(request, response);
          if (completed) context.completeResponse = response;
        }
      }
      const status = response.status;
      if (response !== context.completeResponse) {
        const headers = response.headers;
        applyHeaders(
          headers,
          (context.route === undefined ? undefined : headersFor.get(context.route)) ?? defaultHeaders,
        );
        // An error is never cached, whatever the route's policy for its successes.
        if (status >= 400) headers.set("cache-control", DEFAULT_POLICY.cache);
        else if (!headers.has("cache-control"))
          headers.set("cache-control", context.policy?.cache ?? DEFAULT_POLICY.cache);
      }
      // A keep-alive client told now opens a new connection for its next request, not one about to close.
      if (lifecycle.shuttingDown) response.headers.set("connection", "close");
      const durationMs = performance.now() - context.startedAt;
      const now = runtime.now();
      if (now >= metrics.sealAt) inBackground(metrics.flush(runtime.store, now));
      const recorder = context.recorder ?? unmatchedRecorders.get(request.method) ?? unmatchedOther;
      recorder.observe(status, durationMs);
      const fields: LogFields = {
        requestId: context.requestId,
        traceId: trace.traceId,
        method: request.method,
        route: context.route ?? UNMATCHED_ROUTE,
        status,
        durationMs: Math.round(durationMs * 100) / 100,
      };
      if (context.route === undefined) fields.path = redactUnmatchedPath(path);
      if (context.clientIp !== undefined) fields.ip = context.clientIp;
      if (context.userId !== undefined) fields.userId = context.userId;
      if (context.orgId !== undefined) fields.orgId = context.orgId;
      if (status >= 500) logger.error("request", fields);
      else logger.info("request", fields);
      return response;
    },
    drain(deadlineMs, closeMs = 0) {
      lifecycle.shuttingDown = true;
      if (inFlight === 0) return Promise.resolve({ drained: true, abandoned: 0 });
      return new Promise((resolve) => {
        let abandoned = 0;
        let timer = setTimeout(() => {
          abandoned = inFlight;
          for (const abandon of abandonments) abandon();
          timer = setTimeout(() => resolve({ drained: false, abandoned }), closeMs);
        }, deadlineMs);
        onIdle = () => {
          clearTimeout(timer);
          resolve({ drained: abandoned === 0, abandoned });
        };
      });
    },
  };
  return rampart;
}

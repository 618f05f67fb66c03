/**
 * Builds the HTTP entry point from route groups. Order per request: shutdown gate → request id →
 * Elysia (routes, guards, error envelope) → response headers → one JSON log line.
 */
import { Elysia } from "elysia";
import { AppError } from "../errors/app-error.ts";
import { errorResponse } from "../errors/envelope.ts";
import { toAppError } from "../errors/from-framework.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { createAllowedMethodsLookup } from "./method-not-allowed.ts";
import { type RequestContext, openRequestContext, requestContextOf } from "./request-context.ts";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.ts";
import type { RouteGroup } from "./route-group.ts";

export interface RampartApp {
  /** The Web-standard handler: Bun.serve, Deno.serve and Vercel's Bun runtime all call this. */
  fetch(request: Request): Promise<Response>;
  readonly inFlight: number;
  /** Refuses new requests and resolves when in-flight ones are done or the deadline passes. */
  drain(deadlineMs: number): Promise<{ drained: boolean; abandoned: number }>;
}

function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const query = url.indexOf("?", start);
  return start === -1 ? "/" : url.slice(start, query === -1 ? undefined : query);
}

// Responses from fetch() have immutable headers; copy only then.
function withMutableHeaders(response: Response): Response {
  try {
    response.headers.set(REQUEST_ID_HEADER, response.headers.get(REQUEST_ID_HEADER) ?? "");
    return response;
  } catch {
    return new Response(response.body, response);
  }
}

export function buildApp(runtime: Runtime, groups: readonly RouteGroup[]): RampartApp {
  const { logger, lifecycle } = runtime;
  let allowedMethods: (path: string) => string[] = () => [];

  const app = new Elysia({ name: "rampart" })
    .onError({ as: "global" }, ({ code, error, request }) => {
      const context = requestContextOf(request);
      let { appError, unexpected } = toAppError(code, error);
      if (appError.code === "NOT_FOUND" && !(error instanceof AppError)) {
        const allow = allowedMethods(pathOf(request.url));
        if (allow.length > 0) appError = new AppError("METHOD_NOT_ALLOWED", undefined, undefined, { allow: allow.join(", ") });
      }
      if (unexpected) logger.error("unhandled error", { requestId: context.requestId, route: context.route, error: describeError(error) });
      return errorResponse(appError, context.requestId, new Headers());
    })
    .onBeforeHandle({ as: "global" }, ({ request, route }) => {
      requestContextOf(request).route = route;
    });
  for (const group of groups) app.use(group.build(runtime));
  allowedMethods = createAllowedMethodsLookup(app.routes);

  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  const log = (request: Request, context: RequestContext, status: number) => {
    const fields = {
      requestId: context.requestId,
      method: request.method,
      route: context.route ?? pathOf(request.url),
      status,
      durationMs: Math.round((performance.now() - context.startedAt) * 100) / 100,
      ...(context.userId === undefined ? {} : { userId: context.userId }),
      ...(context.orgId === undefined ? {} : { orgId: context.orgId }),
    };
    if (status >= 500) logger.error("request", fields);
    else logger.info("request", fields);
  };

  return {
    get inFlight() {
      return inFlight;
    },
    async fetch(request) {
      const context = openRequestContext(request, requestIdFor(request));
      let response: Response;
      if (lifecycle.shuttingDown) {
        response = errorResponse(new AppError("SHUTTING_DOWN", undefined, undefined, { connection: "close", "retry-after": "1" }), context.requestId, new Headers());
      } else {
        inFlight++;
        try {
          response = withMutableHeaders(await app.handle(request));
        } catch (error) {
          logger.error("unhandled error", { requestId: context.requestId, error: describeError(error) });
          response = errorResponse(new AppError("INTERNAL"), context.requestId, new Headers());
        } finally {
          if (--inFlight === 0) onIdle?.();
        }
      }
      response.headers.set(REQUEST_ID_HEADER, context.requestId);
      log(request, context, response.status);
      return response;
    },
    drain(deadlineMs) {
      lifecycle.shuttingDown = true;
      if (inFlight === 0) return Promise.resolve({ drained: true, abandoned: 0 });
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ drained: false, abandoned: inFlight }), deadlineMs);
        onIdle = () => {
          clearTimeout(timer);
          resolve({ drained: true, abandoned: 0 });
        };
      });
    },
  };
}

function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { value: String(error) };
}

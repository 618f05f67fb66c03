/**
 * Per-request facts the pipeline and guards share (id, start, route, caller), kept in a WeakMap
 * keyed by the Request so no hook needs the whole Elysia context.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly startedAt: number;
  route?: string;
  userId?: string;
  orgId?: string;
}

const contexts = new WeakMap<Request, RequestContext>();

export function openRequestContext(request: Request, requestId: string): RequestContext {
  const context: RequestContext = { requestId, startedAt: performance.now() };
  contexts.set(request, context);
  return context;
}

/** The context of a request that came through the pipeline; a bare request gets a fresh one. */
export function requestContextOf(request: Request): RequestContext {
  return contexts.get(request) ?? openRequestContext(request, crypto.randomUUID());
}

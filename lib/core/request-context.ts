/**
 * Per-request facts the pipeline and guards share (id, start, route, client, caller, deadline), kept
 * in a WeakMap keyed by the Request so no hook needs the whole Elysia context.
 */
import type { Caller } from "./caller.ts";
import { type Deadline, unwatchDeadline, watchDeadline } from "./deadline-sweeper.ts";
import type { BoundOrg } from "./org-roles.ts";
import { processWide } from "./process-wide.ts";
import type { ResolvedPolicy } from "./route-policy.ts";

export interface RequestContext {
  readonly requestId: string;
  readonly startedAt: number;
  /** The path as sent, without query. */
  path?: string;
  route?: string;
  policy?: ResolvedPolicy;
  clientIp?: string;
  caller?: Caller;
  /** The organization a route with tenant binding acts on, bound by the pipeline. */
  org?: BoundOrg;
  userId?: string;
  orgId?: string;
  /** Aborts when the request's deadline passes; pass it to database, store and outbound calls. */
  readonly signal: AbortSignal;
  /** The peer address of the connection, when the server knows it. */
  socketAddress?: string;
  /** The response built with its security headers and request id already in place, not to be written twice. */
  completeResponse?: Response;
  /** Names of dependency calls still running, reported if the deadline passes. */
  readonly pending: Set<string>;
  /** The matched route's metrics recorder (lib/metrics/recorders.ts), resolved when the app was built. */
  recorder?: { observe(status: number, durationMs: number): void };
  /** Set when one of its transactions begins to commit (lib/db/commit-guard.ts). */
  commitStarted: boolean;
  /** Aborts the signal: the request is given up on, and its transactions roll back instead of committing. */
  abandon(reason: Error): void;
  /** Starts, or restarts with a new length, the request's deadline. */
  setDeadline(ms: number): void;
  clearDeadline(): void;
}

export type DeadlineHandler = (context: RequestContext, ms: number) => void;

const contexts = processWide("request-contexts", () => new WeakMap<Request, RequestContext>());

// A class rather than an object of closures: a request allocates one object, and it is its own deadline.
class PipelineContext implements RequestContext, Deadline {
  readonly startedAt = performance.now();
  path?: string;
  route?: string;
  policy?: ResolvedPolicy;
  clientIp?: string;
  caller?: Caller;
  org?: BoundOrg;
  userId?: string;
  orgId?: string;
  socketAddress?: string;
  completeResponse?: Response;
  recorder?: { observe(status: number, durationMs: number): void };
  commitStarted = false;
  at = 0;
  #lengthMs = 0;
  #controller?: AbortController;
  #pending?: Set<string>;

  constructor(
    readonly requestId: string,
    readonly onDeadline: DeadlineHandler | undefined,
  ) {}

  // Created on first use: most requests never hand their signal to anything.
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  get pending(): Set<string> {
    this.#pending ??= new Set();
    return this.#pending;
  }

  setDeadline(ms: number): void {
    this.#lengthMs = ms;
    this.at = this.startedAt + ms;
    watchDeadline(this);
  }

  clearDeadline(): void {
    unwatchDeadline(this);
  }

  // Created here if no one asked yet: a signal first read after this must already be aborted.
  abandon(reason: Error): void {
    (this.#controller ??= new AbortController()).abort(reason);
  }

  expire(): void {
    this.abandon(new Error(`deadline of ${this.#lengthMs} ms passed`));
    this.onDeadline?.(this, this.#lengthMs);
  }
}

export function openRequestContext(request: Request, requestId: string, onDeadline?: DeadlineHandler): RequestContext {
  const context = new PipelineContext(requestId, onDeadline);
  contexts.set(request, context);
  return context;
}

/** The context of a request that came through the pipeline; a bare request gets a fresh one. */
export function requestContextOf(request: Request): RequestContext {
  return contexts.get(request) ?? openRequestContext(request, crypto.randomUUID());
}

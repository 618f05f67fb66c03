/**
 * The response cache of GET routes that declare one (lib/core/cache-policy.ts):
 *
 * 1. lookup, after the guards: the in-process layer (at most `memoryMs` old, and no tag purged here since), else
 *    one MGET of the entry and its tags' versions; an entry computed under other versions is absent.
 *    Fresh: HIT. Within stale-while-revalidate: STALE, and one background refresh (per process by a set, per
 *    cluster by the lock).
 * 2. A miss joins this process's flight for its key, or starts it and takes the cluster lock (SET NX PX); the
 *    loser polls the store for the winner's answer, then computes anyway.
 * 3. complete, after the handler: a 200 without Set-Cookie, textual and within `maxEntryBytes`, is stored under
 *    the versions read before computing and handed to the flight; otherwise the flight ends empty and its
 *    waiters compute for themselves. A route that has stored `maxStoredEntries` within an entry's lifetime
 *    stores no more until that window passes, so the entries it keeps never exceed twice that.
 * 4. staleOnError: a dependency error (503 DEPENDENCY_UNAVAILABLE: database or store down, breaker open) is
 *    answered with the entry while it is within stale-if-error.
 */
import { setBounded } from "../collections/bounded-map.ts";
import { cacheControlOf, type ResolvedCachePolicy } from "../core/cache-policy.ts";
import type { RequestContext } from "../core/request-context.ts";
import type { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import type { SeriesRecorder } from "../metrics/recorders.ts";
import type { Store } from "../store/store.ts";
import { COUNT_KEY_PREFIX, cacheKeyOf, ENTRY_KEY_PREFIX, LOCK_KEY_PREFIX, pathParamsOf } from "./cache-key.ts";
import { pathTag } from "./cache-tags.ts";
import {
  applyCacheHeaders,
  type BodyEncoder,
  type CachedEntry,
  type CacheHeaders,
  type CacheStatus,
  parseEntry,
  responseOf,
} from "./cached-entry.ts";
import { cdnHeaders } from "./cdn-headers.ts";
import { entityTag, matchesIfNoneMatch } from "./entity-tag.ts";
import { adaptiveTtlMs, purgeIntervalKey } from "./purge-intervals.ts";
import { knownTagVersion, noteTagVersion, tagVersionKey } from "./purge-tags.ts";
import { type Flight, SingleFlight } from "./single-flight.ts";

export interface ResponseCacheOptions {
  /** How long an entry read from the store is answered from memory; bounds how late a purge is seen. */
  memoryMs: number;
  /** Entries kept in memory. */
  memoryEntries: number;
  /** Larger bodies are answered, not cached. */
  maxEntryBytes: number;
  /** Entries one route may add to the store per lifetime of an entry; past it, answers are sent but not stored. */
  maxStoredEntries: number;
  /** How long the lock across instances holds when its holder never releases it. */
  lockMs: number;
  /** How long an instance that lost the lock waits for the winner's entry before computing it itself. */
  waitForLockMs: number;
  pollEveryMs: number;
}

export const DEFAULT_RESPONSE_CACHE_OPTIONS: ResponseCacheOptions = {
  memoryMs: 1_000,
  memoryEntries: 500,
  maxEntryBytes: 256 * 1024,
  maxStoredEntries: 10_000,
  lockMs: 5_000,
  waitForLockMs: 250,
  pollEveryMs: 25,
};

/** The per-route counters (`cache{route,outcome}`); a 304 counts as not_modified only. */
export const CACHE_OUTCOMES = ["hit", "stale", "miss", "coalesced", "bypass", "not_modified"] as const;
export type CacheOutcome = (typeof CACHE_OUTCOMES)[number];

export interface ResponseCacheDeps {
  readonly store: Store;
  readonly logger: Logger;
  /** Epoch milliseconds: ages and freshness. */
  now(): number;
  inBackground(pending: Promise<unknown>): void;
  /** Runs `request` through the app again, for a background refresh. */
  refresh(request: Request, socketAddress: string | undefined): Promise<unknown>;
  /** Sends a body in the encoding the client accepts (lib/http/cached-body-encoder.ts). */
  readonly encode: BodyEncoder;
}

export interface CachedRouteInfo {
  readonly path: string;
  readonly policy: { readonly responseCache: ResolvedCachePolicy | undefined };
}

export interface ResponseCache {
  /** After the guards: the cached answer, or undefined when the handler must compute it. */
  lookup(request: Request, route: CachedRouteInfo, context: RequestContext): Promise<Response | undefined>;
  /** After the handler: keeps its answer when it may be kept; returns what to send. */
  complete(request: Request, response: Response): Promise<Response>;
  /** On a handler's error: the kept answer, if the error is a dependency's and the entry within stale-if-error. */
  staleOnError(request: Request, error: AppError): Response | undefined;
}

interface CachedRoute {
  readonly path: string;
  readonly policy: ResolvedCachePolicy;
  readonly headers: CacheHeaders;
  readonly counters: Readonly<Record<CacheOutcome, SeriesRecorder>>;
}

interface Ticket {
  readonly route: CachedRoute;
  readonly key: string;
  readonly tags: readonly string[];
  versions: readonly number[];
  /** The tags' purge histories, read with their versions when the route's TTL is adaptive. */
  purgeHistories: readonly (string | null)[] | undefined;
  /** An entry past its freshness kept for stale-if-error. */
  fallback: CachedEntry | undefined;
  flight: Flight<CachedEntry | undefined> | undefined;
  locked: boolean;
  /** Answered from the cache: nothing left to store. */
  answered: boolean;
}

const STALE_ON: ReadonlySet<string> = new Set(["DEPENDENCY_UNAVAILABLE"]);
const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript))/;

function sameVersions(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((version, i) => version === b[i]);
}

function secondsOrUndefined(ms: number): number | undefined {
  return ms === 0 ? undefined : Math.floor(ms / 1000);
}

function ownerOf(context: RequestContext): string {
  if (context.orgId !== undefined) return `o:${context.orgId}`;
  return context.userId === undefined ? "anonymous" : `u:${context.userId}`;
}

export function createResponseCache(
  deps: ResponseCacheDeps,
  overrides: Partial<ResponseCacheOptions> = {},
): ResponseCache {
  const options = { ...DEFAULT_RESPONSE_CACHE_OPTIONS, ...overrides };
  const { store, now } = deps;
  const routes = new Map<string, CachedRoute>();
  const tickets = new WeakMap<Request, Ticket>();
  const memory = new Map<string, { entry: CachedEntry; readAt: number }>();
  const flights = new SingleFlight<CachedEntry | undefined>();
  const refreshing = new Set<string>();
  const refreshes = new WeakSet<Request>();
  const metrics = metricsRegistry();

  function routeOf({ path, policy }: CachedRouteInfo): CachedRoute {
    let route = routes.get(path);
    if (route === undefined) {
      const cache = policy.responseCache as ResolvedCachePolicy;
      const counters = Object.fromEntries(
        CACHE_OUTCOMES.map((outcome) => [outcome, metrics.series("cache", { route: path, outcome })]),
      ) as Record<CacheOutcome, SeriesRecorder>;
      // A public answer tells CDNs how long to keep it and which tags purge it; a private one, only browsers.
      const cdn =
        cache.scope === "public"
          ? (tags: readonly string[], ttlMs = cache.ttlMs) =>
              cdnHeaders({
                ttlSeconds: Math.floor(ttlMs / 1000),
                // A window the route does not declare is left out rather than sent as 0.
                staleWhileRevalidateSeconds: secondsOrUndefined(cache.staleWhileRevalidateMs),
                staleIfErrorSeconds: secondsOrUndefined(cache.staleIfErrorMs),
                tags,
              })
          : undefined;
      const vary = [...cache.vary, ...(deps.encode.variesByEncoding ? ["accept-encoding"] : [])].join(", ");
      // A CDN keeps an answer of an adaptive TTL as long as the cache itself does, not for the route's maximum.
      const cacheControl = (ttlMs = cache.ttlMs) =>
        ttlMs === cache.ttlMs ? cache.cacheControl : cacheControlOf(cache.scope, ttlMs);
      const headers = { cacheControl, vary, cdn };
      route = { path, policy: cache, headers, counters };
      routes.set(path, route);
    }
    return route;
  }

  function isFresh(policy: ResolvedCachePolicy, entry: CachedEntry, within: number): boolean {
    return now() - entry.storedAt < (entry.ttlMs ?? policy.ttlMs) + within;
  }

  // The TTL an entry stored now gets; without the histories (read from memory), the shortest allowed.
  function ttlOf(policy: ResolvedCachePolicy, ticket: Ticket): number {
    if (policy.minTtlMs === policy.ttlMs) return policy.ttlMs;
    if (ticket.purgeHistories === undefined) return policy.minTtlMs;
    return adaptiveTtlMs(ticket.purgeHistories, now(), policy.minTtlMs, policy.ttlMs);
  }

  // One store round trip at most: the entry, its tags' versions and, for an adaptive TTL, their purge histories.
  async function read(ticket: Ticket): Promise<CachedEntry | undefined> {
    const remembered = memory.get(ticket.key);
    if (
      remembered !== undefined &&
      now() - remembered.readAt < options.memoryMs &&
      ticket.tags.every((tag, i) => knownTagVersion(store, tag) <= (remembered.entry.versions[i] as number))
    ) {
      ticket.versions = remembered.entry.versions;
      return remembered.entry;
    }
    const { policy } = ticket.route;
    const histories = policy.minTtlMs === policy.ttlMs ? [] : ticket.tags.map(purgeIntervalKey);
    const replies = await store.mget([ENTRY_KEY_PREFIX + ticket.key, ...ticket.tags.map(tagVersionKey), ...histories]);
    if (histories.length > 0) ticket.purgeHistories = replies.slice(1 + ticket.tags.length);
    const versions = ticket.tags.map((tag, i) => {
      const version = Number(replies[i + 1] ?? 0);
      noteTagVersion(store, tag, version);
      return version;
    });
    ticket.versions = versions;
    const entry = parseEntry(replies[0] ?? null);
    if (entry === undefined || !sameVersions(entry.versions, versions)) return undefined;
    setBounded(memory, ticket.key, { entry, readAt: now() }, options.memoryEntries);
    return entry;
  }

  function answer(
    request: Request,
    ticket: Ticket,
    entry: CachedEntry,
    status: CacheStatus,
    outcome: CacheOutcome,
  ): Response {
    ticket.answered = true;
    const notModified = matchesIfNoneMatch(request.headers.get("if-none-match"), entry.etag);
    ticket.route.counters[notModified ? "not_modified" : outcome].add();
    const acceptEncoding = request.headers.get("accept-encoding");
    return responseOf(entry, ticket.route.headers, status, notModified, ticket.tags, acceptEncoding, deps.encode);
  }

  function releaseLock(ticket: Ticket): void {
    if (ticket.locked) deps.inBackground(store.del(LOCK_KEY_PREFIX + ticket.key));
  }

  // One refresh per key in this process; the cluster lock keeps other instances from running theirs.
  function revalidate(request: Request, ticket: Ticket, context: RequestContext): void {
    if (refreshing.has(ticket.key)) return;
    refreshing.add(ticket.key);
    const refresh = async () => {
      if (!(await store.set(LOCK_KEY_PREFIX + ticket.key, "1", { onlyIfAbsent: true, ttlMs: options.lockMs }))) return;
      const copy = new Request(request.url, { headers: request.headers });
      refreshes.add(copy);
      await deps.refresh(copy, context.socketAddress);
    };
    deps.inBackground(refresh().finally(() => refreshing.delete(ticket.key)));
  }

  // The lock's holder stores its answer; a loser reads it here rather than computing it once more.
  async function awaitWinner(ticket: Ticket): Promise<CachedEntry | undefined> {
    const until = performance.now() + options.waitForLockMs;
    while (performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, options.pollEveryMs));
      const entry = parseEntry(await store.get(ENTRY_KEY_PREFIX + ticket.key));
      if (entry !== undefined && sameVersions(entry.versions, ticket.versions)) return entry;
    }
    return undefined;
  }

  // The write and the count go out together (one round trip's wait); an entry past the route's cap is taken back.
  async function keep(ticket: Ticket, entry: CachedEntry, keepMs: number): Promise<void> {
    const window = Math.floor(now() / keepMs);
    const [, stored] = await Promise.all([
      store.set(ENTRY_KEY_PREFIX + ticket.key, JSON.stringify(entry), { ttlMs: keepMs }),
      store.incr(`${COUNT_KEY_PREFIX}${ticket.route.path}:${window}`, keepMs * 2),
    ]);
    if (stored <= options.maxStoredEntries) return;
    await store.del(ENTRY_KEY_PREFIX + ticket.key);
    if (stored === options.maxStoredEntries + 1)
      deps.logger.warn("response cache entry cap reached", { route: ticket.route.path, cap: options.maxStoredEntries });
  }

  async function lookup(request: Request, info: CachedRouteInfo, context: RequestContext) {
    const route = routeOf(info);
    const { policy } = route;
    const url = new URL(request.url);
    const path = context.path ?? url.pathname;
    const tags = [
      ...policy.tags({ params: pathParamsOf(info.path, path), orgId: context.orgId, userId: context.userId }),
      pathTag(path),
    ];
    const key = cacheKeyOf(
      info.path,
      url,
      request.headers,
      policy.vary,
      policy.scope === "private" ? ownerOf(context) : "",
    );
    const ticket: Ticket = {
      route,
      key,
      tags,
      versions: [],
      purgeHistories: undefined,
      fallback: undefined,
      flight: undefined,
      locked: false,
      answered: false,
    };
    tickets.set(request, ticket);
    let entry: CachedEntry | undefined;
    try {
      entry = await read(ticket);
    } catch {
      // The cache is an optimisation: a store that fails leaves the handler to answer, uncached.
      tickets.delete(request);
      route.counters.bypass.add();
      return undefined;
    }
    if (refreshes.has(request)) {
      ticket.locked = true;
      ticket.flight = flights.start(key);
      return undefined;
    }
    if (entry !== undefined && isFresh(policy, entry, 0)) return answer(request, ticket, entry, "HIT", "hit");
    if (entry !== undefined && isFresh(policy, entry, policy.staleWhileRevalidateMs)) {
      revalidate(request, ticket, context);
      return answer(request, ticket, entry, "STALE", "stale");
    }
    if (entry !== undefined && isFresh(policy, entry, policy.staleIfErrorMs)) ticket.fallback = entry;
    const joined = flights.joined(key);
    if (joined !== undefined) {
      const shared = await joined;
      if (shared === undefined) return undefined;
      return answer(request, ticket, shared, isFresh(policy, shared, 0) ? "MISS" : "STALE", "coalesced");
    }
    ticket.flight = flights.start(key);
    ticket.locked = await store.set(LOCK_KEY_PREFIX + key, "1", { onlyIfAbsent: true, ttlMs: options.lockMs });
    if (ticket.locked) return undefined;
    const winners = await awaitWinner(ticket);
    if (winners === undefined) return undefined;
    ticket.flight.settle(winners);
    return answer(request, ticket, winners, "MISS", "coalesced");
  }

  async function complete(request: Request, response: Response): Promise<Response> {
    const ticket = tickets.get(request);
    if (ticket === undefined) return response;
    tickets.delete(request);
    if (ticket.answered) return response;
    const { route } = ticket;
    const contentType = response.headers.get("content-type") ?? "";
    const keepable = !response.headers.has("set-cookie") && TEXTUAL.test(contentType);
    const body = response.status === 200 && keepable ? await response.text() : undefined;
    if (body === undefined || Buffer.byteLength(body) > options.maxEntryBytes) {
      ticket.flight?.settle(undefined);
      releaseLock(ticket);
      // An error is a miss that is not kept; a success that may not be kept passed the cache by.
      const outcome = response.status === 200 ? "bypass" : "miss";
      route.counters[outcome].add();
      const passed = body === undefined ? response : new Response(body, response);
      passed.headers.set("x-cache", outcome === "bypass" ? "BYPASS" : "MISS");
      return passed;
    }
    route.counters.miss.add();
    const { policy } = route;
    const ttlMs = ttlOf(policy, ticket);
    const entry: CachedEntry = {
      status: 200,
      contentType,
      body,
      etag: entityTag(body),
      storedAt: now(),
      versions: ticket.versions,
      ttlMs,
    };
    setBounded(memory, ticket.key, { entry, readAt: entry.storedAt }, options.memoryEntries);
    ticket.flight?.settle(entry);
    const keepMs = ttlMs + Math.max(policy.staleWhileRevalidateMs, policy.staleIfErrorMs);
    try {
      await keep(ticket, entry, keepMs);
    } catch (error) {
      // Answered all the same: only the next request pays for the store's failure.
      deps.logger.warn("response cache write failed", { route: ticket.key, error });
    }
    releaseLock(ticket);
    const notModified = matchesIfNoneMatch(request.headers.get("if-none-match"), entry.etag);
    const headers = applyCacheHeaders(new Headers(response.headers), entry, route.headers, "MISS", ticket.tags);
    // The handler's length was of its identity body; the answer's is set by whatever body is sent.
    headers.delete("content-length");
    if (notModified) {
      headers.delete("content-type");
      return new Response(null, { status: 304, headers });
    }
    const sent = deps.encode(entry, request.headers.get("accept-encoding"), headers);
    return new Response(sent, { status: 200, headers });
  }

  function staleOnError(request: Request, error: AppError): Response | undefined {
    const ticket = tickets.get(request);
    const fallback = ticket?.fallback;
    if (ticket === undefined || fallback === undefined || !STALE_ON.has(error.code)) return undefined;
    if (!isFresh(ticket.route.policy, fallback, ticket.route.policy.staleIfErrorMs)) return undefined;
    ticket.flight?.settle(fallback);
    releaseLock(ticket);
    return answer(request, ticket, fallback, "STALE", "stale");
  }

  return { lookup, complete, staleOnError };
}

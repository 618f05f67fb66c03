/**
 * Blocks client addresses: automatically after repeated rate-limit refusals, or by an operator (one
 * address or a CIDR range, IPv4 or IPv6). `isBlocked` reads only memory; the list is shared through the
 * store and refreshed on the settings poll.
 */
// The list is one versioned JSON document rather than a key per block: the store cannot list keys,
// and every instance needs the whole list anyway; a poll costs two GETs (see versioned-document.ts).
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { Database } from "../db/database.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";
import type { SettingsSource } from "../settings/settings.ts";
import type { Store } from "../store/store.ts";
import { createVersionedDocument, type DocumentVersion } from "../store/versioned-document.ts";
import { covers, isFullAddress, type Network, networkOfClientKey, parseNetwork } from "./ip-network.ts";

export interface IpBlock {
  /** An address as clients are keyed (`1.2.3.4`, `2001:db8:1:2::/64`) or a wider CIDR range. */
  target: string;
  /** Epoch ms; null until an operator removes it. */
  expiresAt: number | null;
  reason: string;
  source: "auto" | "admin";
  createdBy: string;
  createdAt: number;
}

export interface IpBlocker {
  /** The hot path: memory only. */
  isBlocked(ip: string): boolean;
  /** Counts one rate-limit refusal; past the threshold, blocks the address everywhere. */
  recordViolation(ip: string): Promise<void>;
  /** Every live block, read from the store. */
  list(): Promise<IpBlock[]>;
  /** The block an operator asks for, checked but not applied; throws VALIDATION_FAILED for a bad target. */
  adminBlockOf(
    target: string,
    options: { ttlMs?: number | undefined; reason?: string | undefined },
    actor: string,
  ): IpBlock;
  /** Applies a block made by `adminBlockOf`, here at once and everywhere through the store. */
  apply(entry: IpBlock): Promise<IpBlock>;
  /** Blocks an address or CIDR range (`adminBlockOf`, then `apply`). */
  add(
    target: string,
    options: { ttlMs?: number | undefined; reason?: string | undefined },
    actor: string,
  ): Promise<IpBlock>;
  /** Lifts a block; the canonical target lifted, or undefined when there was none. */
  remove(target: string, actor: string): Promise<string | undefined>;
  refresh(): Promise<void>;
}

export interface IpBlockerOptions {
  store: Store;
  settings: SettingsSource;
  logger: Logger;
  /** Told of each automatic block once it is shared (the audit log); its failure is logged, the block stands. */
  onAutoBlock?: (block: IpBlock, violations: number) => Promise<unknown>;
  key?: string;
  violationPrefix?: string;
  /**
   * The time in epoch milliseconds blocks are stamped and expired by; tests move it instead of sleeping.
   * @default Date.now
   */
  now?: () => number;
}

/** The canonical form of a blocklist target (address or CIDR range); throws VALIDATION_FAILED for anything else. */
export function canonicalBlockTarget(target: string): string {
  const parsed = parseNetwork(target);
  if ("problem" in parsed)
    throw new AppError("VALIDATION_FAILED", undefined, {
      fields: [{ path: "target", message: `target ${parsed.problem}` }],
    });
  return parsed.target;
}

export const DEFAULT_IP_BLOCKER = {
  key: "rampart:ip-blocks",
  violationPrefix: "rampart:ip-violations",
  adminReason: "blocked by an operator",
  now: Date.now,
} as const;

// Checked by hand: every instance reads the blocks at start, where importing arktype costs ~300 ms of CPU.
function blocksProblem(value: unknown): string | undefined {
  if (!Array.isArray(value)) return "must be an array";
  for (const [i, item] of value.entries()) {
    if (typeof item !== "object" || item === null) return `[${i}] must be an object`;
    const block = item as Record<string, unknown>;
    const wrong = (["target", "reason", "createdBy"] as const).find((field) => typeof block[field] !== "string");
    if (wrong !== undefined) return `[${i}].${wrong} must be a string`;
    if (block.expiresAt !== null && typeof block.expiresAt !== "number")
      return `[${i}].expiresAt must be a number or null`;
    if (block.source !== "auto" && block.source !== "admin") return `[${i}].source must be "admin" or "auto"`;
    if (typeof block.createdAt !== "number") return `[${i}].createdAt must be a number`;
  }
  return undefined;
}

export function createIpBlocker(options: IpBlockerOptions): IpBlocker {
  const {
    store,
    settings,
    logger,
    key,
    violationPrefix,
    onAutoBlock,
    now: clock,
  } = { ...DEFAULT_IP_BLOCKER, ...options };
  const document = createVersionedDocument({
    store,
    key,
    field: "blocks",
    // Blocks made since ours was written (automatic ones, during an attack) join ours; for an address in
    // both, the longer block. Older blocks in theirs (a lagging instance put back an earlier list) were
    // known to ours, so ours lacking one means it was lifted: it stays lifted.
    reconcile: (ours, theirs) => {
      const since = Date.parse(ours.changedAt);
      const merged = new Map(blocksOf(ours).map((block) => [block.target, block]));
      for (const block of blocksOf(theirs)) {
        if (block.createdAt < since) continue;
        const kept = merged.get(block.target);
        if (kept === undefined || outlasts(block, kept)) merged.set(block.target, block);
      }
      return [...merged.values()];
    },
    onRestored: (restored, theirs) =>
      logger.warn("the store had lost the shared IP blocklist; put back the version known here", {
        version: restored.version,
        mergedWithVersion: theirs?.version,
      }),
  });
  let stored: IpBlock[] = [];
  let indexedVersion = 0;
  // Blocks this instance made that the store does not hold yet: kept through refreshes until written.
  const unsaved = new Map<string, IpBlock>();
  let exact = new Map<string, number>();
  let ranges: (Network & { expiresAt: number })[] = [];
  const blocking = new Set<string>();

  const isLive = (block: IpBlock, now: number) => block.expiresAt === null || block.expiresAt > now;
  const outlasts = (block: IpBlock, other: IpBlock) =>
    block.expiresAt === null || (other.expiresAt !== null && block.expiresAt > other.expiresAt);

  const index = () => {
    const now = clock();
    for (const [target, block] of unsaved) if (!isLive(block, now)) unsaved.delete(target);
    const nextExact = new Map<string, number>();
    const nextRanges: (Network & { expiresAt: number })[] = [];
    for (const block of [...stored, ...unsaved.values()]) {
      if (!isLive(block, now)) continue;
      const parsed = parseNetwork(block.target);
      if ("problem" in parsed) continue;
      const expiresAt = block.expiresAt ?? Number.POSITIVE_INFINITY;
      if (isFullAddress(parsed.network))
        nextExact.set(parsed.target, Math.max(expiresAt, nextExact.get(parsed.target) ?? 0));
      else nextRanges.push({ ...parsed.network, expiresAt });
    }
    exact = nextExact;
    ranges = nextRanges;
  };

  const blocksOf = (doc: DocumentVersion | undefined): IpBlock[] => {
    if (doc === undefined) return [];
    const problem = blocksProblem(doc.value);
    if (problem !== undefined) throw new Error(`${key} version ${doc.version} is malformed: ${problem}`);
    return doc.value as IpBlock[];
  };

  const load = (doc: DocumentVersion | undefined) => {
    if (doc === undefined || doc.version <= indexedVersion) return;
    stored = blocksOf(doc);
    indexedVersion = doc.version;
    index();
  };

  /** Writes the list as `edit` changes it, dropping expired entries on the way. */
  const change = async (edit: (blocks: IpBlock[]) => IpBlock[], actor: string) => {
    const doc = await document.write((latest) => {
      const now = clock();
      return edit(blocksOf(latest).filter((block) => isLive(block, now)));
    }, actor);
    load(doc);
  };

  const isBlocked = (ip: string): boolean => {
    const until = exact.get(ip);
    if (until === undefined && ranges.length === 0) return false;
    const now = clock();
    if (until !== undefined && until > now) return true;
    const address = ranges.length === 0 ? undefined : networkOfClientKey(ip);
    if (address === undefined) return false;
    for (const range of ranges) if (range.expiresAt > now && covers(range, address)) return true;
    return false;
  };

  const block = async (entry: IpBlock) => {
    unsaved.set(entry.target, entry);
    index();
    try {
      await change((blocks) => [...blocks.filter((b) => b.target !== entry.target), entry], entry.createdBy);
      unsaved.delete(entry.target);
    } catch (error) {
      // An automatic block keeps protecting this instance when the write fails; an operator is told it failed instead.
      if (entry.source === "admin") unsaved.delete(entry.target);
      throw error;
    } finally {
      index();
    }
  };

  const blocker: IpBlocker = {
    isBlocked,

    async recordViolation(ip) {
      // "unknown" and other non-addresses are shared by every caller whose address is not known: never block them.
      if (networkOfClientKey(ip) === undefined || isBlocked(ip) || blocking.has(ip)) return;
      const current = settings.current();
      const threshold = current.emergency.enabled ? current.emergency.blockThreshold : current.blocking.threshold;
      const counter = `${violationPrefix}:${ip}`;
      const violations = await store.incr(counter, current.blocking.windowMs);
      if (violations < threshold || isBlocked(ip) || blocking.has(ip)) return;
      blocking.add(ip);
      try {
        const now = clock();
        const reason = `${violations} rate-limit refusals within ${current.blocking.windowMs} ms`;
        logger.warn("ip blocked", { ip, reason, blockMs: current.blocking.blockMs, actor: "auto-block" });
        const entry: IpBlock = {
          target: ip,
          expiresAt: now + current.blocking.blockMs,
          reason,
          source: "auto",
          createdBy: "auto-block",
          createdAt: now,
        };
        await block(entry);
        await store.del(counter);
        await onAutoBlock?.(entry, violations).catch((error: unknown) =>
          logger.error("recording an automatic ip block failed", { ip, error }),
        );
      } finally {
        blocking.delete(ip);
      }
    },

    async list() {
      await blocker.refresh();
      const now = clock();
      return [...stored.filter((b) => !unsaved.has(b.target)), ...unsaved.values()].filter((b) => isLive(b, now));
    },

    adminBlockOf(target, { ttlMs, reason = DEFAULT_IP_BLOCKER.adminReason }, actor) {
      const now = clock();
      return {
        target: canonicalBlockTarget(target),
        expiresAt: ttlMs === undefined ? null : now + ttlMs,
        reason,
        source: "admin",
        createdBy: actor,
        createdAt: now,
      };
    },

    async apply(entry) {
      await block(entry);
      logger.info("ip blocked", {
        ip: entry.target,
        reason: entry.reason,
        expiresAt: entry.expiresAt,
        actor: entry.createdBy,
      });
      return entry;
    },

    add: (target, options, actor) => blocker.apply(blocker.adminBlockOf(target, options, actor)),

    async remove(target, actor) {
      const canonical = canonicalBlockTarget(target);
      const wasUnsaved = unsaved.delete(canonical);
      const isStored = blocksOf(await document.latest()).some((b) => b.target === canonical && isLive(b, clock()));
      // Written even when only an unsaved copy was here: a poll's retry may be storing it at this moment.
      if (isStored || wasUnsaved) await change((blocks) => blocks.filter((b) => b.target !== canonical), actor);
      index();
      if (!wasUnsaved && !isStored) return undefined;
      logger.info("ip unblocked", { ip: canonical, actor });
      return canonical;
    },

    async refresh() {
      load(await document.latest());
      // Automatic blocks whose write lost every attempt (many instances blocking at once) protect only this
      // instance until written: try again on each poll. The pending list is read inside the edit, so a
      // block an operator lifted meanwhile is not written back, and a block already stored is left as it is.
      const now = clock();
      if (![...unsaved.values()].some((block) => isLive(block, now) && !stored.some((b) => b.target === block.target)))
        return;
      let written: IpBlock[] = [];
      try {
        await change((blocks) => {
          written = [...unsaved.values()].filter(
            (block) => isLive(block, clock()) && !blocks.some((b) => b.target === block.target),
          );
          return [...blocks, ...written];
        }, "auto-block");
        for (const block of written) if (unsaved.get(block.target) === block) unsaved.delete(block.target);
        index();
      } catch (error) {
        logger.warn("ip blocks not shared yet, retrying at the next poll", { targets: [...unsaved.keys()], error });
      }
    },
  };
  settings.onPoll("ip blocklist", blocker.refresh);
  return blocker;
}

/**
 * The blocker of one runtime, which audits its automatic blocks; one per runtime, so the guard and the admin routes
 * share it.
 */
export function openIpBlocker({
  store,
  settings,
  logger,
  db,
}: Pick<IpBlockerOptions, "store" | "settings" | "logger"> & { db: Database }): IpBlocker {
  const onAutoBlock = (block: IpBlock, violations: number) =>
    recordAuditEvent(db.primary, {
      action: "ip.blocked",
      actor: { type: "system", id: block.createdBy },
      target: { type: "ip", id: block.target },
      metadata: { violations, reason: block.reason, expiresAt: block.expiresAt },
    });
  return createIpBlocker({ store, settings, logger, onAutoBlock });
}

/**
 * Settings shared by every instance through the store: `current()` is a plain in-memory value kept fresh
 * by polling, and `update()` validates, writes the next version and applies it here at once.
 */
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
import { createVersionedDocument, type DocumentVersion } from "../store/versioned-document.ts";
import type { Settings, SettingsBody, SettingsPatch, SettingsSource } from "./settings.ts";
import { checkStoredSettings } from "./settings-check.ts";
import { mergeSettings } from "./settings-merge.ts";

export interface LiveSettingsOptions {
  store: Store;
  logger: Logger;
  /** What applies until the store holds settings, and fills any section a stored version lacks. */
  base: Settings;
  pollMs: number;
  key?: string;
  /** The time in milliseconds a poll's age is measured by; tests move it instead of sleeping. @default Date.now */
  now?: () => number;
}

export const DEFAULT_LIVE_SETTINGS = {
  key: "rampart:settings",
  now: Date.now,
} as const;

interface PollPart {
  name: string;
  refresh(): Promise<void>;
  /** Set while the part's polls fail, so a store outage is logged once, not every interval. */
  failing: boolean;
}

function bodyOf(settings: Settings): SettingsBody {
  const { version: _version, ...body } = settings;
  return body;
}

type SettingsRules = typeof import("./settings-schema.ts");
let settingsRules: SettingsRules | undefined;
// On an admin's first change, not at import: the schema pulls in arktype, ~300 ms of a cold start's CPU; polls
// check the stored settings by hand.
const loadSettingsRules = async () => (settingsRules ??= await import("./settings-schema.ts"));

export function createLiveSettings(options: LiveSettingsOptions): SettingsSource {
  const { store, logger, base, pollMs, key, now } = { ...DEFAULT_LIVE_SETTINGS, ...options };
  const document = createVersionedDocument({
    store,
    key,
    field: "settings",
    // The settings from before the loss are kept whole; a change written since it is named in the log.
    onRestored: (restored, theirs) =>
      logger.warn("the store had lost the shared settings; put back the version known here", {
        version: restored.version,
        ...(theirs === undefined
          ? {}
          : {
              replacedVersion: theirs.version,
              replacedChangedBy: theirs.changedBy,
              replacedChangedAt: theirs.changedAt,
            }),
      }),
  });
  let current = base;
  let appliedVersion = 0;

  // Stored settings are merged over the base, so a section added to the code since they were written gets its default.
  const checkStored = (doc: DocumentVersion) => checkStoredSettings(mergeSettings(bodyOf(base), doc.value));
  const apply = (doc: DocumentVersion, settings: SettingsBody) => {
    current = { version: doc.version, ...settings };
    appliedVersion = doc.version;
  };

  const checkPatch = (rules: SettingsRules, over: SettingsBody, patch: SettingsPatch): SettingsBody => {
    const checked = rules.checkSettings(mergeSettings(over, patch));
    if (!checked.ok) throw new AppError("VALIDATION_FAILED", undefined, { fields: checked.issues });
    return checked.settings;
  };

  const parts: PollPart[] = [
    {
      name: "settings",
      failing: false,
      async refresh() {
        const doc = await document.latest();
        if (doc === undefined || doc.version <= appliedVersion) return;
        const checked = checkStored(doc);
        if (!checked.ok)
          throw new Error(
            `stored settings version ${doc.version} are invalid: ${checked.issues.map((i) => i.message).join("; ")}`,
          );
        apply(doc, checked.settings);
      },
    },
  ];
  const pollPart = async (part: PollPart) => {
    try {
      await part.refresh();
      if (part.failing) logger.info("poll recovered", { part: part.name });
      part.failing = false;
    } catch (error) {
      if (!part.failing) logger.warn("poll failed, keeping the last good state", { part: part.name, error });
      part.failing = true;
    }
  };

  let polling: Promise<void> | undefined;
  let lastPolledAt = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;

  const poll = () =>
    (polling ??= Promise.all(parts.map(pollPart)).then(() => {
      lastPolledAt = now();
      polling = undefined;
    }));

  return {
    current: () => current,

    async check(patch) {
      checkPatch(await loadSettingsRules(), bodyOf(current), patch);
    },

    async update(patch, actor) {
      const rules = await loadSettingsRules();
      let previous = bodyOf(current);
      let next = previous;
      const doc = await document.write((latest) => {
        // Merge over the newest stored version, not over what this instance last polled; a corrupt one is overwritten.
        const stored = latest !== undefined && latest.version > appliedVersion ? checkStored(latest) : undefined;
        previous = stored?.ok ? stored.settings : bodyOf(current);
        next = checkPatch(rules, previous, patch);
        return next;
      }, actor);
      apply(doc, next);
      const sections = Object.keys(patch) as (keyof SettingsBody)[];
      const pick = (body: SettingsBody) => Object.fromEntries(sections.map((section) => [section, body[section]]));
      logger.info("settings changed", { actor, version: doc.version, old: pick(previous), new: pick(next) });
      return current;
    },

    onPoll(name, refresh) {
      parts.push({ name, refresh, failing: false });
      lastPolledAt = Number.NEGATIVE_INFINITY;
    },

    poll,

    pollIfStale() {
      if (polling !== undefined || now() - lastPolledAt < pollMs) return undefined;
      return poll();
    },

    start() {
      if (running) return;
      running = true;
      const tick = () =>
        poll().then(() => {
          if (!running) return;
          timer = setTimeout(tick, pollMs);
          timer.unref?.();
        });
      void tick();
    },

    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}

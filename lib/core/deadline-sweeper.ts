/**
 * Request deadlines on one shared timer: a per-request setTimeout costs a timer allocation and a
 * cancel on every request, while a sweep every `tickMs` costs nothing per request but a Set entry.
 * Deadlines are seconds long, so firing up to `tickMs` late is immaterial.
 */
export interface Deadline {
  at: number;
  expire(): void;
}

export const DEADLINE_TICK_MS = 25;

const active = new Set<Deadline>();
let timer: ReturnType<typeof setInterval> | undefined;

function sweep(): void {
  const now = performance.now();
  for (const deadline of active) {
    if (deadline.at > now) continue;
    active.delete(deadline);
    deadline.expire();
  }
  if (active.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

export function watchDeadline(deadline: Deadline): void {
  active.add(deadline);
  if (timer === undefined) {
    timer = setInterval(sweep, DEADLINE_TICK_MS);
    timer.unref?.();
  }
}

export function unwatchDeadline(deadline: Deadline): void {
  active.delete(deadline);
}

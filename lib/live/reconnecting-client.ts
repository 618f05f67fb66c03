/**
 * A small browser-or-server client for the live WebSocket: it asks for a fresh ticket before each connection,
 * resumes after the last event id it saw, and reconnects after any close but a refusal of its grant (4401),
 * waiting a random time up to an exponentially growing cap ("full jitter"), so a fleet of clients dropped
 * at once by a shutdown (1001) does not come back at once.
 *
 * @example
 * const live = connectLive({
 *   url: "wss://api.example.com/v1/live?types=member.added",
 *   ticket: async () => (await post(`/v1/orgs/${orgId}/live/tickets`)).ticket,
 *   onEvent: (event) => console.log(event.id, event.type, event.data),
 * });
 */
export interface LiveEventMessage {
  kind: "event";
  id: string;
  type: string;
  data: unknown;
  createdAt: string;
}

export interface ReconnectOptions {
  /** The first retry waits up to this long. @default 500 */
  baseMs: number;
  /** No retry waits longer than this. @default 30000 */
  capMs: number;
  /** A number in [0, 1); tests pass their own. @default Math.random */
  random: () => number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = { baseMs: 500, capMs: 30_000, random: Math.random };

export interface ConnectLiveOptions {
  /** `ws(s)://…/v1/live`, with `types` if wanted; the client adds `lastEventId` when it resumes. */
  url: string | (() => string);
  /** A fresh ticket from `POST /v1/orgs/:orgId/live/tickets`, asked for with the client's own credentials. */
  ticket: () => Promise<string>;
  onEvent: (event: LiveEventMessage) => void;
  /** Told each close and how long the client waits before the next attempt (undefined: it gives up). */
  onClose?: (code: number, retryInMs: number | undefined) => void;
  reconnect?: Partial<ReconnectOptions>;
  /** Extra constructor options, e.g. Bun's `{ headers }`; browsers take none. */
  socketOptions?: Record<string, unknown>;
}

/** Closes that mean the client must not retry with the same credentials. */
const FINAL_CLOSES = new Set([4401]);

/** The wait before retry number `attempt` (0-based): uniform in [0, min(cap, base · 2^attempt)). */
export function backoffDelay(attempt: number, options: ReconnectOptions): number {
  return Math.floor(options.random() * Math.min(options.capMs, options.baseMs * 2 ** attempt));
}

export function connectLive(options: ConnectLiveOptions) {
  const reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
  let lastEventId: string | undefined;
  let attempt = 0;
  let stopped = false;
  let socket: WebSocket | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const retry = (code: number) => {
    const final = stopped || FINAL_CLOSES.has(code);
    const delay = final ? undefined : backoffDelay(attempt++, reconnect);
    options.onClose?.(code, delay);
    if (delay !== undefined) timer = setTimeout(open, delay);
  };

  async function open(): Promise<void> {
    if (stopped) return;
    let ticket: string;
    try {
      ticket = await options.ticket();
    } catch {
      // No ticket (the API is down or refusing): the same backoff as a dropped connection.
      return retry(1006);
    }
    const url = new URL(typeof options.url === "string" ? options.url : options.url());
    if (lastEventId !== undefined) url.searchParams.set("lastEventId", lastEventId);
    const Socket = WebSocket as unknown as new (url: string, options: unknown) => WebSocket;
    const protocols = ["rampart.v1", `ticket.${ticket}`];
    socket = new Socket(
      url.href,
      options.socketOptions === undefined ? protocols : { protocols, ...options.socketOptions },
    );
    socket.onopen = () => {
      attempt = 0;
    };
    socket.onmessage = (message) => {
      const parsed = JSON.parse(String(message.data)) as { kind: string };
      if (parsed.kind !== "event") return;
      const event = parsed as LiveEventMessage;
      lastEventId = event.id;
      options.onEvent(event);
    };
    socket.onclose = (event) => retry(event.code);
  }

  void open();
  return {
    get lastEventId() {
      return lastEventId;
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      socket?.close(1000);
    },
  };
}

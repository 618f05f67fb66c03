/**
 * The WebSocket upgrade on Deno (Deno Deploy's `Deno.upgradeWebSocket`), where Elysia's `.ws()` has no server
 * to upgrade with: the admitted socket's events are handed to its LiveSocket, as Bun's handlers do.
 */
import type { LiveSocket, SocketSink } from "./live-socket.ts";

interface DenoWebSocketUpgrade {
  socket: WebSocket;
  response: Response;
}
type UpgradeWebSocket = (
  request: Request,
  options: { protocol?: string; idleTimeout?: number },
) => DenoWebSocketUpgrade;

// Deno pings on its own and closes a socket that does not answer within this many seconds.
const DENO_IDLE_TIMEOUT_S = 60;

/** Deno's upgrade, or undefined on any other runtime. */
export function denoUpgradeWebSocket(): UpgradeWebSocket | undefined {
  const deno = (globalThis as { Deno?: { upgradeWebSocket?: UpgradeWebSocket } }).Deno;
  return deno?.upgradeWebSocket?.bind(deno);
}

/** Upgrades `request` with `protocol` echoed, and runs `socket` over it; returns the 101 to answer with. */
export function upgradeOnDeno(
  upgrade: UpgradeWebSocket,
  request: Request,
  protocol: string,
  socket: LiveSocket,
  start: Parameters<LiveSocket["open"]>[1],
  onError: (error: unknown) => void,
): Response {
  const { socket: raw, response } = upgrade(request, { protocol, idleTimeout: DENO_IDLE_TIMEOUT_S });
  // No `ping`: Deno does not report pongs, so its own idle timeout stands in for the stream's.
  const sink: SocketSink = {
    send: (frame) => {
      raw.send(frame);
      return raw.bufferedAmount;
    },
    close: (code, reason) => raw.close(code, reason),
  };
  raw.binaryType = "arraybuffer";
  raw.onopen = () => {
    socket.open(sink, start).catch((error: unknown) => {
      onError(error);
      raw.close(1011, "stream failed to open");
    });
  };
  raw.onmessage = (event: MessageEvent) => {
    const text = typeof event.data === "string" ? event.data : undefined;
    // The limit is in UTF-8 bytes, as Bun counts it; a string's length counts UTF-16 units.
    const bytes = text === undefined ? (event.data as ArrayBuffer).byteLength : UTF8.encode(text).byteLength;
    socket.message(text === undefined ? undefined : parseJson(text), bytes);
  };
  raw.onclose = () => socket.closed();
  return response;
}

const UTF8 = new TextEncoder();

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * What Bun.serve needs to carry the live WebSocket routes: Elysia's handlers (its `.ws()` routes keep their
 * callbacks on each socket) and the transport's limits. Compression is permessage-deflate with a shared
 * compressor reset after every message (no context takeover: no per-socket window, no memory per socket).
 */
import type { WebSocketHandler } from "bun";
import { websocket } from "elysia/ws";
import { MAX_CLIENT_MESSAGE_BYTES } from "./live-socket.ts";

// Elysia types its handlers against its own copy of Bun's socket type; they are Bun's at run time.
const elysiaHandlers = websocket as unknown as Pick<WebSocketHandler<unknown>, "open" | "message" | "close">;

export const LIVE_WEBSOCKET_SERVER: WebSocketHandler<unknown> = {
  ...elysiaHandlers,
  perMessageDeflate: { compress: "shared", decompress: "shared" },
  maxPayloadLength: MAX_CLIENT_MESSAGE_BYTES,
  // A backstop under the stream's own idle check (LiveStreamOptions.idleTimeoutMs); Bun counts in seconds.
  idleTimeout: 120,
  sendPings: true,
  // Slow consumers are closed by the stream at its own threshold, below this one.
  backpressureLimit: 16 * 1024 * 1024,
  closeOnBackpressureLimit: true,
};

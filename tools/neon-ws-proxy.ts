/** A local WebSocket-to-TCP proxy, so `@neondatabase/serverless` can reach a plain PostgreSQL on loopback. */
import { isIPv4, isIPv6 } from "node:net";
import { neonConfig } from "@neondatabase/serverless";
import type { ServerWebSocket, Socket } from "bun";

export interface NeonWsProxyOptions {
  port?: number;
  hostname?: string;
}

export interface NeonWsProxy {
  port: number;
  /** The proxy's WebSocket base URL, e.g. `ws://127.0.0.1:4444`. */
  url: string;
  stop(): Promise<void>;
}

const DEFAULT_NEON_WS_PROXY_OPTIONS = {
  port: 0,
  hostname: "127.0.0.1",
  /** Bytes queued toward PostgreSQL before the proxy stops reading from the WebSocket. */
  tcpHighWaterMark: 1024 * 1024,
  /** The driver sends each (coalesced) write as one frame; PostgreSQL itself accepts messages up to 1 GiB. */
  maxFrameBytes: 1024 * 1024 * 1024,
} as const;

interface Target {
  host: string;
  port: number;
}

/** One WebSocket client and the TCP connection it is piped to. */
interface Tunnel {
  target: Target;
  tcp: Socket<Tunnel> | undefined;
  /** Bytes the WebSocket sent that PostgreSQL has not accepted yet (before connect, or under backpressure). */
  toTcp: Uint8Array[];
  toTcpBytes: number;
  wsClosed: boolean;
  tcpClosed: boolean;
}

/** Points the Neon driver (process-wide) at a proxy started by {@link startNeonWsProxy} on `proxyPort`. */
export function configureNeonForLocalProxy(proxyPort: number): void {
  neonConfig.wsProxy = (host, port) => `127.0.0.1:${proxyPort}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  neonConfig.webSocketConstructor = WebSocket;
}

/** Parses `host:port`, `[v6]:port` or `v6:port` (the driver does not bracket IPv6 hosts). */
function parseTargetAddress(address: string): Target | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^(.+):(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const [, host, portText] = match;
  const port = Number(portText);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

function isLoopbackHost(host: string): boolean {
  const normalized = host.toLowerCase();
  if (normalized === "localhost") return true;
  if (isIPv4(normalized)) return normalized.startsWith("127.");
  if (isIPv6(normalized)) {
    // The WHATWG URL parser canonicalizes IPv6 (`0:0::1` → `[::1]`, `::ffff:127.0.0.1` → `[::ffff:7f00:1]`).
    const canonical = new URL(`http://[${normalized}]/`).hostname;
    return canonical === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
  }
  return false;
}

function textResponse(status: number, message: string): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** Writes what PostgreSQL will take now and keeps the rest, in order, for its drain event. */
function flushToTcp(tunnel: Tunnel): void {
  const tcp = tunnel.tcp;
  if (tcp === undefined) return;
  while (tunnel.toTcp.length > 0) {
    const chunk = tunnel.toTcp[0] as Uint8Array;
    const written = tcp.write(chunk);
    if (written < 0) return;
    tunnel.toTcpBytes -= written;
    if (written < chunk.byteLength) {
      tunnel.toTcp[0] = chunk.subarray(written);
      return;
    }
    tunnel.toTcp.shift();
  }
}

const MAX_CLOSE_REASON_BYTES = 123;

function closeWebSocket(ws: ServerWebSocket<Tunnel>, code: number, reason: string): void {
  if (ws.data.wsClosed) return;
  ws.data.wsClosed = true;
  let fitted = reason;
  while (new TextEncoder().encode(fitted).byteLength > MAX_CLOSE_REASON_BYTES) fitted = fitted.slice(0, -1);
  ws.close(code, fitted);
}

/** Ends the TCP side once everything the client sent before closing has been written. */
function endTcpWhenFlushed(tunnel: Tunnel): void {
  if (tunnel.tcp !== undefined && !tunnel.tcpClosed && tunnel.toTcp.length === 0) tunnel.tcp.end();
}

/** Starts the proxy. Clients connect to `ws://host:port/<any path>?address=<pg host>:<pg port>`. */
export function startNeonWsProxy(options: NeonWsProxyOptions = {}): NeonWsProxy {
  const settings = {
    ...DEFAULT_NEON_WS_PROXY_OPTIONS,
    port: options.port ?? DEFAULT_NEON_WS_PROXY_OPTIONS.port,
    hostname: options.hostname ?? DEFAULT_NEON_WS_PROXY_OPTIONS.hostname,
  };
  const tunnels = new Set<Tunnel>();

  const connectTarget = (ws: ServerWebSocket<Tunnel>): void => {
    const tunnel = ws.data;
    Bun.connect<Tunnel>({
      hostname: tunnel.target.host,
      port: tunnel.target.port,
      data: tunnel,
      socket: {
        open(tcp) {
          tunnel.tcp = tcp;
          if (tunnel.wsClosed) {
            tcp.end();
            return;
          }
          flushToTcp(tunnel);
          if (ws.isPaused && tunnel.toTcpBytes < settings.tcpHighWaterMark) ws.resume();
        },
        data(tcp, chunk) {
          if (tunnel.wsClosed) return;
          const status = ws.send(chunk);
          // -1: queued, but the client is slow; stop reading PostgreSQL until the WebSocket drains.
          if (status === -1) tcp.pause();
          // 0: dropped at the WebSocket's backpressure limit; the byte stream is broken now.
          else if (status === 0 && chunk.byteLength > 0) {
            closeWebSocket(ws, 1011, "client too slow");
            tcp.end();
          }
        },
        drain() {
          flushToTcp(tunnel);
          if (tunnel.wsClosed) endTcpWhenFlushed(tunnel);
          else if (ws.isPaused && tunnel.toTcpBytes < settings.tcpHighWaterMark) ws.resume();
        },
        end(tcp) {
          closeWebSocket(ws, 1000, "database closed the connection");
          tcp.end();
        },
        close() {
          tunnel.tcpClosed = true;
          tunnels.delete(tunnel);
          closeWebSocket(ws, 1000, "database connection closed");
        },
        error(_tcp, error) {
          closeWebSocket(ws, 1011, `database socket error: ${error.message}`);
        },
        connectError(_tcp, error) {
          tunnel.tcpClosed = true;
          tunnels.delete(tunnel);
          closeWebSocket(ws, 1011, `cannot reach ${tunnel.target.host}:${tunnel.target.port}: ${error.message}`);
        },
      },
    }).catch((error: unknown) => {
      // connectError has already closed the WebSocket; this only keeps the rejection handled.
      if (!tunnel.wsClosed) closeWebSocket(ws, 1011, String(error));
    });
  };

  const server = Bun.serve<Tunnel>({
    port: settings.port,
    hostname: settings.hostname,
    fetch(request, server) {
      const address = new URL(request.url).searchParams.get("address");
      if (address === null) return textResponse(400, "missing ?address=host:port");
      const target = parseTargetAddress(address);
      if (target === undefined) return textResponse(400, `invalid address: ${address}`);
      if (!isLoopbackHost(target.host))
        return textResponse(403, `only loopback targets are allowed, not ${target.host}`);
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
        return textResponse(426, "WebSocket upgrade required");
      const tunnel: Tunnel = { target, tcp: undefined, toTcp: [], toTcpBytes: 0, wsClosed: false, tcpClosed: false };
      if (server.upgrade(request, { data: tunnel })) return undefined;
      return textResponse(400, "WebSocket upgrade failed");
    },
    websocket: {
      maxPayloadLength: settings.maxFrameBytes,
      open(ws) {
        tunnels.add(ws.data);
        connectTarget(ws);
      },
      message(ws, message) {
        const tunnel = ws.data;
        // The driver only sends binary frames; text is forwarded as its UTF-8 bytes.
        const bytes = typeof message === "string" ? new TextEncoder().encode(message) : new Uint8Array(message);
        tunnel.toTcp.push(bytes);
        tunnel.toTcpBytes += bytes.byteLength;
        if (tunnel.toTcp.length === 1) flushToTcp(tunnel);
        if (tunnel.toTcpBytes >= settings.tcpHighWaterMark) ws.pause();
      },
      drain(ws) {
        ws.data.tcp?.resume();
      },
      close(ws) {
        const tunnel = ws.data;
        tunnel.wsClosed = true;
        endTcpWhenFlushed(tunnel);
      },
    },
  });

  const port = server.port ?? settings.port;
  return {
    port,
    url: `ws://${settings.hostname.includes(":") ? `[${settings.hostname}]` : settings.hostname}:${port}`,
    async stop() {
      for (const tunnel of tunnels) tunnel.tcp?.end();
      tunnels.clear();
      await server.stop(true);
    },
  };
}

if (import.meta.main) {
  const port = Number(process.env.NEON_PROXY_PORT ?? 4444);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`NEON_PROXY_PORT must be a port number, got ${process.env.NEON_PROXY_PORT}`);
    process.exit(1);
  }
  const proxy = startNeonWsProxy({ port });
  console.log(`Neon WebSocket proxy listening on ${proxy.url}`);
  console.log(`Use it with configureNeonForLocalProxy(${proxy.port}) or NEON_WS_PROXY=127.0.0.1:${proxy.port}`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      proxy.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error("Failed to stop the proxy cleanly:", error);
          process.exit(1);
        },
      );
    });
  }
}

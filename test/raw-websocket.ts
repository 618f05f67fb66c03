/**
 * A WebSocket client on a bare TCP socket, for what a real client hides: the handshake's status and headers,
 * the RSV1 (compressed) bit of each frame, and a client that never answers pings.
 */
import type { Socket } from "bun";

export interface RawFrame {
  fin: boolean;
  compressed: boolean;
  opcode: number;
  payload: Uint8Array;
}

export interface RawHandshake {
  status: number;
  headers: Headers;
  /** Frames received after a 101; the socket's end closes the list. */
  frames(): RawFrame[];
  /** Resolves once a frame matching `test` arrived, or the socket ended (then undefined). */
  waitFor(test: (frame: RawFrame) => boolean): Promise<RawFrame | undefined>;
  readonly ended: Promise<void>;
  close(): void;
}

function parseFrames(buffer: Uint8Array, out: RawFrame[]): Uint8Array {
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const first = buffer[offset] as number;
    const second = buffer[offset + 1] as number;
    let length = second & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buffer.length - offset < 4) break;
      length = ((buffer[offset + 2] as number) << 8) | (buffer[offset + 3] as number);
      header = 4;
    } else if (length === 127) {
      if (buffer.length - offset < 10) break;
      length = Number(new DataView(buffer.buffer, buffer.byteOffset + offset + 2, 8).getBigUint64(0));
      header = 10;
    }
    if (buffer.length - offset < header + length) break;
    out.push({
      fin: (first & 0x80) !== 0,
      compressed: (first & 0x40) !== 0,
      opcode: first & 0x0f,
      payload: buffer.slice(offset + header, offset + header + length),
    });
    offset += header + length;
  }
  return buffer.slice(offset);
}

/** Opens a TCP connection, sends the upgrade request with `headers`, and reads the answer. */
export async function rawHandshake(port: number, path: string, headers: Record<string, string>): Promise<RawHandshake> {
  const frames: RawFrame[] = [];
  const waiters = new Set<() => void>();
  let pending: Uint8Array = new Uint8Array(0);
  let head: string | undefined;
  let resolveHead: () => void = () => {};
  const headRead = new Promise<void>((resolve) => {
    resolveHead = resolve;
  });
  let endSocket: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    endSocket = resolve;
  });
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, chunk) {
        const joined = new Uint8Array(pending.length + chunk.length);
        joined.set(pending);
        joined.set(chunk, pending.length);
        pending = joined;
        if (head === undefined) {
          const text = new TextDecoder().decode(pending);
          const end = text.indexOf("\r\n\r\n");
          if (end === -1) return;
          head = text.slice(0, end);
          pending = pending.slice(new TextEncoder().encode(text.slice(0, end + 4)).length);
          resolveHead();
        }
        pending = parseFrames(pending, frames);
        notify();
      },
      close() {
        resolveHead();
        endSocket();
        notify();
      },
    },
  });
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}`,
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  await headRead;
  const [statusLine = "", ...headerLines] = (head ?? "").split("\r\n");
  const parsed = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) parsed.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let isEnded = false;
  void ended.then(() => {
    isEnded = true;
  });
  return {
    status: Number(statusLine.split(" ")[1] ?? 0),
    headers: parsed,
    frames: () => frames,
    ended,
    waitFor(test) {
      return new Promise((resolve) => {
        const check = () => {
          const found = frames.find(test);
          if (found !== undefined || isEnded) {
            waiters.delete(check);
            resolve(found);
          }
        };
        waiters.add(check);
        check();
      });
    },
    close: () => socket.end(),
  };
}

/** The close code of a close frame. */
export const closeCodeOf = (frame: RawFrame) =>
  frame.payload.length >= 2 ? ((frame.payload[0] as number) << 8) | (frame.payload[1] as number) : 1005;

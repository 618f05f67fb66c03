/** A TCP relay tests put between a driver and its server, to kill, revive or slow "the server" on demand. */
import type { Socket, TCPSocketListener } from "bun";

export interface TcpRelay {
  readonly port: number;
  /** Drops every connection and refuses new ones, as a dead server would. */
  kill(): void;
  revive(): void;
  /** Holds every chunk, both ways, this long before passing it on (0: at once); order is kept. */
  delay(ms: number): void;
  close(): void;
}

interface Link {
  upstream?: Socket<Link>;
  pending: Uint8Array[];
  client: Socket<Link>;
  backlog: Map<Socket<Link>, Uint8Array[]>;
  /** When the last delayed chunk toward each socket is due: a later chunk never overtakes it. */
  dueAt: Map<Socket<Link>, number>;
}

// Bun's socket.write may take only part of a chunk; the rest waits for the socket's drain event.
function send(socket: Socket<Link>, chunk: Uint8Array): void {
  const queue = socket.data.backlog.get(socket);
  if (queue !== undefined && queue.length > 0) {
    queue.push(chunk);
    return;
  }
  const written = socket.write(chunk);
  if (written < chunk.byteLength) socket.data.backlog.set(socket, [chunk.subarray(Math.max(written, 0))]);
}

function flush(socket: Socket<Link>): void {
  const queue = socket.data.backlog.get(socket);
  while (queue !== undefined && queue.length > 0) {
    const chunk = queue[0] as Uint8Array;
    const written = socket.write(chunk);
    if (written < chunk.byteLength) {
      queue[0] = chunk.subarray(Math.max(written, 0));
      return;
    }
    queue.shift();
  }
}

export function startTcpRelay(target: { hostname: string; port: number }): TcpRelay {
  const open = new Set<Socket<Link>>();
  let listener: TCPSocketListener<Link> | undefined;
  let port = 0;
  let delayMs = 0;

  const relay = (socket: Socket<Link>, chunk: Uint8Array) => {
    const previous = socket.data.dueAt.get(socket) ?? 0;
    if (delayMs === 0 && previous <= performance.now()) return send(socket, chunk);
    const due = Math.max(performance.now() + delayMs, previous);
    socket.data.dueAt.set(socket, due);
    const copy = new Uint8Array(chunk);
    setTimeout(() => {
      if (open.has(socket)) send(socket, copy);
    }, due - performance.now());
  };

  const listen = () => {
    listener = Bun.listen<Link>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          const link: Link = { pending: [], client, backlog: new Map(), dueAt: new Map() };
          client.data = link;
          open.add(client);
          Bun.connect<Link>({
            ...target,
            socket: {
              open(upstream) {
                upstream.data = link;
                link.upstream = upstream;
                open.add(upstream);
                for (const chunk of link.pending) relay(upstream, chunk);
                link.pending = [];
              },
              data(_, chunk) {
                relay(client, chunk);
              },
              drain: flush,
              close(upstream) {
                open.delete(upstream);
                client.end();
              },
              error() {
                client.end();
              },
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          const link = client.data;
          if (link.upstream === undefined) link.pending.push(new Uint8Array(chunk));
          else relay(link.upstream, chunk);
        },
        drain: flush,
        close(client) {
          open.delete(client);
          client.data.upstream?.end();
        },
      },
    });
    port = listener.port;
  };
  listen();

  return {
    get port() {
      return port;
    },
    kill() {
      listener?.stop(true);
      listener = undefined;
      for (const socket of open) socket.terminate();
      open.clear();
    },
    revive() {
      if (listener === undefined) listen();
    },
    delay(ms) {
      delayMs = ms;
    },
    close() {
      this.kill();
    },
  };
}

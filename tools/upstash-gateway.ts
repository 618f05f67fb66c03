/**
 * An Upstash-REST-compatible HTTP endpoint over a real Redis, so `@upstash/redis` and `@upstash/ratelimit` run locally.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Socket } from "bun";

export interface UpstashGatewayOptions {
  redisUrl: string;
  token: string;
  port?: number;
  hostname?: string;
  /** Redis connections; each is pipelined, and a request's commands always share one. */
  poolSize?: number;
}

export interface UpstashGateway {
  port: number;
  /** The REST URL to give `new Redis({ url, token })`. */
  url: string;
  stop(): Promise<void>;
}

const DEFAULT_UPSTASH_GATEWAY_OPTIONS = {
  port: 0,
  hostname: "127.0.0.1",
  poolSize: 4,
} as const;

/** A Redis error reply (`-ERR ...`). */
class RespError {
  constructor(readonly message: string) {}
}

/** Simple strings are `string`, bulk strings `Uint8Array`, nil bulk/array `null`. */
type RespValue = string | number | null | Uint8Array | RespError | RespValue[];

const CR = 13;
const LF = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeCommand(args: readonly string[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = encoder.encode(arg);
    parts.push(encoder.encode(`$${bytes.byteLength}\r\n`), bytes, encoder.encode("\r\n"));
  }
  return concatBytes(parts);
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

class RespProtocolError extends Error {
  override name = "RespProtocolError";
}

function parseLength(text: string): number {
  const length = Number(text);
  if (!Number.isInteger(length) || length < -1) throw new RespProtocolError(`invalid RESP length: ${text}`);
  return length;
}

/** Incremental RESP2 reader: feed socket chunks, take complete replies. */
class RespReader {
  private buffer = new Uint8Array(0);
  private start = 0;
  private end = 0;

  push(chunk: Uint8Array): void {
    if (this.end + chunk.byteLength > this.buffer.byteLength) {
      const live = this.end - this.start;
      if (live + chunk.byteLength <= this.buffer.byteLength) {
        this.buffer.copyWithin(0, this.start, this.end);
      } else {
        const grown = new Uint8Array(Math.max(live + chunk.byteLength, this.buffer.byteLength * 2, 4096));
        grown.set(this.buffer.subarray(this.start, this.end));
        this.buffer = grown;
      }
      this.start = 0;
      this.end = live;
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  /** The next complete reply, or `undefined` until more bytes arrive. */
  next(): { value: RespValue } | undefined {
    const parsed = this.parseAt(this.start);
    if (parsed === undefined) return undefined;
    this.start = parsed.next;
    if (this.start === this.end) this.start = this.end = 0;
    return { value: parsed.value };
  }

  private readLine(offset: number): { line: string; next: number } | undefined {
    for (let i = offset; i + 1 < this.end; i++) {
      if (this.buffer[i] === CR && this.buffer[i + 1] === LF) {
        return { line: decoder.decode(this.buffer.subarray(offset, i)), next: i + 2 };
      }
    }
    return undefined;
  }

  private parseAt(offset: number): { value: RespValue; next: number } | undefined {
    if (offset >= this.end) return undefined;
    const type = this.buffer[offset];
    const header = this.readLine(offset + 1);
    if (header === undefined) return undefined;
    switch (type) {
      case 0x2b: // '+'
        return { value: header.line, next: header.next };
      case 0x2d: // '-'
        return { value: new RespError(header.line), next: header.next };
      case 0x3a: // ':'
        return { value: Number(header.line), next: header.next };
      case 0x24: {
        // '$'
        const length = parseLength(header.line);
        if (length < 0) return { value: null, next: header.next };
        if (header.next + length + 2 > this.end) return undefined;
        // Copy: the reader's buffer is reused.
        const value = this.buffer.slice(header.next, header.next + length);
        return { value, next: header.next + length + 2 };
      }
      case 0x2a: {
        // '*'
        const count = parseLength(header.line);
        if (count < 0) return { value: null, next: header.next };
        const items: RespValue[] = [];
        let next = header.next;
        for (let i = 0; i < count; i++) {
          const item = this.parseAt(next);
          if (item === undefined) return undefined;
          items.push(item.value);
          next = item.next;
        }
        return { value: items, next };
      }
      default:
        throw new RespProtocolError(`unexpected RESP type byte 0x${(type ?? 0).toString(16)}`);
    }
  }
}

interface RedisTarget {
  hostname: string;
  port: number;
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
  database: number;
}

function parseRedisUrl(redisUrl: string): RedisTarget {
  const url = new URL(redisUrl);
  if (url.protocol !== "redis:" && url.protocol !== "rediss:")
    throw new Error(`REDIS_URL must be redis:// or rediss://, got ${url.protocol}`);
  const databaseText = url.pathname.replace(/^\//, "");
  const database = databaseText === "" ? 0 : Number(databaseText);
  if (!Number.isInteger(database) || database < 0) throw new Error(`invalid Redis database number in ${redisUrl}`);
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? 6379 : Number(url.port),
    tls: url.protocol === "rediss:",
    username: url.username === "" ? undefined : decodeURIComponent(url.username),
    password: url.password === "" ? undefined : decodeURIComponent(url.password),
    database,
  };
}

interface PendingReply {
  resolve(value: RespValue): void;
  reject(error: Error): void;
}

/** One pipelined Redis connection: commands are written in order and replies matched FIFO. */
class RedisConnection {
  private socket: Socket<undefined> | undefined;
  private readonly reader = new RespReader();
  private readonly pending: PendingReply[] = [];
  private readonly outgoing: Uint8Array[] = [];
  private closed = false;
  readonly ready: Promise<void>;

  constructor(target: RedisTarget) {
    // Marks the connection dead so the pool replaces it; the error still reaches every request awaiting `ready`.
    this.ready = this.open(target).catch((error: unknown) => {
      this.close();
      throw error;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get load(): number {
    return this.pending.length;
  }

  private async open(target: RedisTarget): Promise<void> {
    this.socket = await Bun.connect({
      hostname: target.hostname,
      port: target.port,
      tls: target.tls,
      socket: {
        data: (_socket, chunk) => this.receive(chunk),
        drain: () => this.flush(),
        close: () => this.fail(new Error("Redis connection closed")),
        end: () => this.fail(new Error("Redis closed the connection")),
        error: (_socket, error) => this.fail(error),
        connectError: (_socket, error) => this.fail(error),
      },
    });
    const setup: string[][] = [];
    if (target.password !== undefined)
      setup.push(
        target.username === undefined ? ["AUTH", target.password] : ["AUTH", target.username, target.password],
      );
    if (target.database !== 0) setup.push(["SELECT", String(target.database)]);
    if (setup.length === 0) return;
    for (const reply of await this.send(setup)) {
      if (reply instanceof RespError) throw new Error(`Redis connection setup failed: ${reply.message}`);
    }
  }

  /** Writes all commands back to back (nothing else can interleave) and resolves with their replies. */
  send(commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    if (this.closed || this.socket === undefined) return Promise.reject(new Error("Redis connection is not open"));
    const replies = commands.map(
      () =>
        new Promise<RespValue>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    this.outgoing.push(concatBytes(commands.map(encodeCommand)));
    if (this.outgoing.length === 1) this.flush();
    return Promise.all(replies);
  }

  close(): void {
    this.socket?.end();
    this.fail(new Error("Redis connection closed by the gateway"));
  }

  private flush(): void {
    const socket = this.socket;
    if (socket === undefined) return;
    while (this.outgoing.length > 0) {
      const chunk = this.outgoing[0] as Uint8Array;
      const written = socket.write(chunk);
      if (written < 0) return;
      if (written < chunk.byteLength) {
        this.outgoing[0] = chunk.subarray(written);
        return;
      }
      this.outgoing.shift();
    }
  }

  private receive(chunk: Uint8Array): void {
    this.reader.push(chunk);
    try {
      for (let reply = this.reader.next(); reply !== undefined; reply = this.reader.next()) {
        const waiter = this.pending.shift();
        if (waiter === undefined) throw new RespProtocolError("Redis sent a reply nobody was waiting for");
        waiter.resolve(reply.value);
      }
    } catch (error) {
      this.socket?.terminate();
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private fail(error: Error): void {
    this.closed = true;
    this.outgoing.length = 0;
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
  }
}

/** A few pipelined connections, opened on demand and replaced when they die (so a Redis restart heals). */
class RedisPool {
  private readonly slots: (RedisConnection | undefined)[];

  constructor(
    private readonly target: RedisTarget,
    size: number,
  ) {
    this.slots = Array.from({ length: Math.max(1, size) }, () => undefined);
  }

  /** Runs `commands` back to back on one connection. */
  async send(commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    const connection = this.pick();
    await connection.ready;
    return connection.send(commands);
  }

  close(): void {
    for (const connection of this.slots) connection?.close();
    this.slots.fill(undefined);
  }

  // An idle live connection if there is one, else a fresh one in a free or dead slot, else the least loaded.
  private pick(): RedisConnection {
    let best: RedisConnection | undefined;
    let freeSlot = -1;
    for (const [index, connection] of this.slots.entries()) {
      if (connection === undefined || connection.isClosed) {
        if (freeSlot === -1) freeSlot = index;
        continue;
      }
      if (best === undefined || connection.load < best.load) best = connection;
    }
    if (best !== undefined && (best.load === 0 || freeSlot === -1)) return best;
    const connection = new RedisConnection(this.target);
    this.slots[freeSlot] = connection;
    return connection;
  }
}

/** The flags Redis 7 accepts in an EVAL script's `#!lua flags=...` line. */
const REDIS_SCRIPT_FLAGS = new Set(["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"]);

/**
 * Drops shebang flags Redis does not know (Upstash's `allow-key-locking`, sent by @upstash/ratelimit ≥ 2.1).
 * The first line is replaced by one line, so Redis's error line numbers still match the original.
 */
export function adaptScriptForRedis(script: string): string {
  if (!script.startsWith("#!")) return script;
  const lineEnd = script.indexOf("\n");
  const shebang = lineEnd === -1 ? script : script.slice(0, lineEnd);
  const body = lineEnd === -1 ? "" : script.slice(lineEnd);
  const [engine, ...options] = shebang.slice(2).trim().split(/\s+/);
  if (engine !== "lua") return script;
  let changed = false;
  const kept: string[] = [];
  for (const option of options) {
    if (!option.startsWith("flags=")) {
      kept.push(option);
      continue;
    }
    const flags = option
      .slice("flags=".length)
      .split(",")
      .filter((flag) => flag !== "");
    const known = flags.filter((flag) => REDIS_SCRIPT_FLAGS.has(flag));
    if (known.length !== flags.length) changed = true;
    if (known.length > 0) kept.push(`flags=${known.join(",")}`);
  }
  return changed ? `${["#!lua", ...kept].join(" ")}${body}` : script;
}

function sha1Hex(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

/** A command ready for Redis, and how to turn Redis's reply back into what Upstash would answer. */
interface PreparedCommand {
  args: string[];
  mapReply?: (reply: RespValue) => RespValue;
}

class CommandRejected extends Error {
  override name = "CommandRejected";
}

// Connection state is shared by every request on a pooled connection, and push modes or CLIENT REPLY
// would desynchronize the reply FIFO; /multi-exec is the way to run a transaction.
const REJECTED_COMMANDS = new Set([
  "multi",
  "exec",
  "discard",
  "watch",
  "unwatch",
  "subscribe",
  "psubscribe",
  "ssubscribe",
  "unsubscribe",
  "punsubscribe",
  "sunsubscribe",
  "monitor",
  "select",
  "auth",
  "hello",
  "reset",
  "quit",
  "sync",
  "psync",
]);

/** Rewrites scripts for Redis and keeps EVALSHA working with the hash of the script the client sent. */
class CommandPreparer {
  /** SHA1 of a script as the client sent it → SHA1 of the rewritten script Redis actually has. */
  private readonly rewrittenShas = new Map<string, string>();

  prepare(raw: unknown): PreparedCommand {
    const args = toCommandArgs(raw);
    const name = (args[0] as string).toLowerCase();
    if (REJECTED_COMMANDS.has(name)) throw new CommandRejected(`ERR Command is not allowed: ${name}`);
    if (name === "client" && args[1]?.toLowerCase() === "reply")
      throw new CommandRejected("ERR Command is not allowed: client reply");

    if ((name === "eval" || name === "eval_ro") && args[1] !== undefined) {
      args[1] = this.adapt(args[1]);
    } else if ((name === "evalsha" || name === "evalsha_ro") && args[1] !== undefined) {
      // An unknown hash goes through unchanged: Redis answers NOSCRIPT and the client falls back to EVAL.
      args[1] = this.rewrittenShas.get(args[1].toLowerCase()) ?? args[1];
    } else if (name === "script" && args[1]?.toLowerCase() === "load" && args[2] !== undefined) {
      const original = args[2];
      args[2] = this.adapt(original);
      if (args[2] !== original) {
        // Redis answers with the rewritten script's hash; the client expects the one of what it sent.
        const originalSha = encoder.encode(sha1Hex(original));
        return { args, mapReply: (reply) => (reply instanceof RespError ? reply : originalSha) };
      }
    } else if (name === "script" && args[1]?.toLowerCase() === "exists") {
      for (let i = 2; i < args.length; i++) {
        const sha = args[i] as string;
        args[i] = this.rewrittenShas.get(sha.toLowerCase()) ?? sha;
      }
    }
    return { args };
  }

  private adapt(script: string): string {
    const adapted = adaptScriptForRedis(script);
    if (adapted !== script) this.rewrittenShas.set(sha1Hex(script), sha1Hex(adapted));
    return adapted;
  }
}

function toCommandArgs(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0)
    throw new CommandRejected("ERR a command must be a non-empty JSON array");
  return raw.map((arg: unknown) => {
    if (typeof arg === "string") return arg;
    if (typeof arg === "number" || typeof arg === "boolean") return String(arg);
    throw new CommandRejected(
      `ERR command arguments must be strings, numbers or booleans, got ${arg === null ? "null" : typeof arg}`,
    );
  });
}

type JsonValue = string | number | null | JsonValue[];

function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * Redis reply → Upstash `result`. With `Upstash-Encoding: base64` every string is base64 — except a top-level
 * simple-string "OK", which Upstash sends as is (the client special-cases it; inside arrays it always decodes).
 */
function toUpstashResult(reply: RespValue, base64: boolean, topLevel = true): JsonValue {
  if (reply === null || typeof reply === "number") return reply;
  if (Array.isArray(reply)) return reply.map((item) => toUpstashResult(item, base64, false));
  if (reply instanceof RespError) return base64 ? bytesToBase64(encoder.encode(reply.message)) : reply.message;
  if (typeof reply === "string")
    return base64 && !(topLevel && reply === "OK") ? bytesToBase64(encoder.encode(reply)) : reply;
  return base64 ? bytesToBase64(reply) : decoder.decode(reply);
}

type UpstashEntry = { result: JsonValue } | { error: string };

function toUpstashEntry(reply: RespValue, base64: boolean): UpstashEntry {
  return reply instanceof RespError ? { error: reply.message } : { result: toUpstashResult(reply, base64) };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function errorResponse(message: string, status = 400): Response {
  return json({ error: message }, status);
}

function tokenMatcher(token: string): (authorization: string | null) => boolean {
  // Comparing fixed-length digests keeps the comparison constant-time and hides the token's length.
  const expected = createHash("sha256").update(token).digest();
  return (authorization) => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    const presented = createHash("sha256")
      .update(match?.[1] ?? "")
      .digest();
    return match !== null && timingSafeEqual(presented, expected);
  };
}

function unavailable(error: unknown): Response {
  return errorResponse(`ERR Redis is unavailable: ${error instanceof Error ? error.message : String(error)}`, 503);
}

export async function startUpstashGateway(options: UpstashGatewayOptions): Promise<UpstashGateway> {
  const settings = {
    redisUrl: options.redisUrl,
    token: options.token,
    port: options.port ?? DEFAULT_UPSTASH_GATEWAY_OPTIONS.port,
    hostname: options.hostname ?? DEFAULT_UPSTASH_GATEWAY_OPTIONS.hostname,
    poolSize: options.poolSize ?? DEFAULT_UPSTASH_GATEWAY_OPTIONS.poolSize,
  };
  if (settings.token === "") throw new Error("the gateway token must not be empty");
  const pool = new RedisPool(parseRedisUrl(settings.redisUrl), settings.poolSize);
  const preparer = new CommandPreparer();
  const isAuthorized = tokenMatcher(settings.token);

  const runSingle = async (body: unknown, base64: boolean): Promise<Response> => {
    const command = preparer.prepare(body);
    const [reply] = await pool.send([command.args]);
    const mapped = command.mapReply === undefined ? (reply ?? null) : command.mapReply(reply ?? null);
    if (mapped instanceof RespError) return errorResponse(mapped.message);
    return json({ result: toUpstashResult(mapped, base64) });
  };

  const runPipeline = async (body: unknown, base64: boolean): Promise<Response> => {
    if (!Array.isArray(body) || body.length === 0)
      return errorResponse("ERR a pipeline must be a non-empty JSON array of commands");
    // A command the gateway refuses gets its own error entry; the rest still run, as in a Redis pipeline.
    const prepared = body.map((raw: unknown): PreparedCommand | CommandRejected => {
      try {
        return preparer.prepare(raw);
      } catch (error) {
        if (error instanceof CommandRejected) return error;
        throw error;
      }
    });
    const runnable = prepared.filter((command): command is PreparedCommand => !(command instanceof CommandRejected));
    const replies = runnable.length === 0 ? [] : await pool.send(runnable.map((command) => command.args));
    let next = 0;
    return json(
      prepared.map((command): UpstashEntry => {
        if (command instanceof CommandRejected) return { error: command.message };
        const reply = replies[next++] ?? null;
        return toUpstashEntry(command.mapReply === undefined ? reply : command.mapReply(reply), base64);
      }),
    );
  };

  const runTransaction = async (body: unknown, base64: boolean): Promise<Response> => {
    if (!Array.isArray(body) || body.length === 0)
      return errorResponse("ERR a transaction must be a non-empty JSON array of commands");
    const prepared = body.map((raw: unknown) => preparer.prepare(raw));
    // MULTI, the commands and EXEC go out in one write on one connection, so nothing interleaves.
    const replies = await pool.send([["MULTI"], ...prepared.map((command) => command.args), ["EXEC"]]);
    const execReply = replies.at(-1) ?? null;
    if (execReply instanceof RespError) {
      const queueError = replies.slice(1, -1).find((reply): reply is RespError => reply instanceof RespError);
      return errorResponse(
        queueError === undefined ? execReply.message : `${execReply.message} (${queueError.message})`,
      );
    }
    if (!Array.isArray(execReply)) return errorResponse("ERR transaction aborted");
    return json(
      execReply.map((reply, index) => {
        const mapReply = prepared[index]?.mapReply;
        return toUpstashEntry(mapReply === undefined ? reply : mapReply(reply), base64);
      }),
    );
  };

  const server = Bun.serve({
    port: settings.port,
    hostname: settings.hostname,
    // Blocking commands (BLPOP and friends) may legitimately hold a request open for a while.
    idleTimeout: 0,
    async fetch(request) {
      if (!isAuthorized(request.headers.get("authorization"))) return errorResponse("Unauthorized", 401);
      if (request.method !== "POST" && request.method !== "PUT")
        return errorResponse("Method not allowed: send the command as a JSON body", 405);
      const path = new URL(request.url).pathname.replace(/\/+$/, "");
      const run =
        path === ""
          ? runSingle
          : path === "/pipeline"
            ? runPipeline
            : path === "/multi-exec"
              ? runTransaction
              : undefined;
      if (run === undefined) return errorResponse(`Not found: ${path}`, 404);
      let body: unknown;
      try {
        body = JSON.parse(await request.text());
      } catch (error) {
        return errorResponse(
          `ERR the request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      const base64 = request.headers.get("upstash-encoding")?.toLowerCase() === "base64";
      try {
        return await run(body, base64);
      } catch (error) {
        if (error instanceof CommandRejected) return errorResponse(error.message);
        return unavailable(error);
      }
    },
  });

  const port = server.port ?? settings.port;
  return {
    port,
    url: `http://${settings.hostname.includes(":") ? `[${settings.hostname}]` : settings.hostname}:${port}`,
    async stop() {
      await server.stop(true);
      pool.close();
    },
  };
}

if (import.meta.main) {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const token = process.env.UPSTASH_GATEWAY_TOKEN ?? "local-dev-token";
  const port = Number(process.env.UPSTASH_GATEWAY_PORT ?? 8079);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`UPSTASH_GATEWAY_PORT must be a port number, got ${process.env.UPSTASH_GATEWAY_PORT}`);
    process.exit(1);
  }
  const gateway = await startUpstashGateway({ redisUrl, token, port });
  console.log(`Upstash gateway for ${redisUrl} listening on ${gateway.url}`);
  console.log(`Use UPSTASH_REDIS_REST_URL=${gateway.url} UPSTASH_REDIS_REST_TOKEN=<UPSTASH_GATEWAY_TOKEN>`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      gateway.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error("Failed to stop the gateway cleanly:", error);
          process.exit(1);
        },
      );
    });
  }
}

/** Redis over HTTP through @upstash/redis, with a hard per-call deadline and no client-side retries. */
import { Redis } from "@upstash/redis";
import { budgetOutcomeOf, budgetScriptArgs, SPEND_BUDGET_SCRIPT } from "./budget.ts";
import type { BudgetOutcome, BudgetSpend, SetOptions, Store } from "./store.ts";

export interface UpstashStoreOptions {
  url: string;
  token: string;
  timeoutMs: number;
}

// INCR and PEXPIRE in one round trip, so a counter can never be left without its expiry.
const INCR_WITH_EXPIRY = `local v = redis.call('INCR', KEYS[1])
if v == 1 and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v`;

export function createUpstashClient(options: UpstashStoreOptions): Redis {
  return new Redis({
    url: options.url,
    token: options.token,
    // The client's default is 5 retries with exponential backoff (and `retry: false` still tries
    // twice); one attempt, and the breaker decides what happens next.
    retry: { retries: 0, backoff: () => 0 },
    automaticDeserialization: false,
    enableTelemetry: false,
    signal: () => AbortSignal.timeout(options.timeoutMs),
  });
}

export class UpstashStore implements Store {
  readonly kind = "upstash";
  readonly redis: Redis;
  private readonly incrScript;
  private readonly budgetScript;

  constructor(readonly options: UpstashStoreOptions) {
    this.redis = createUpstashClient(options);
    this.incrScript = this.redis.createScript<number>(INCR_WITH_EXPIRY);
    this.budgetScript = this.redis.createScript<number[]>(SPEND_BUDGET_SCRIPT);
  }

  /** A second client to the same Redis with its own deadline, so callers need not import @upstash/redis. */
  client(timeoutMs: number): Redis {
    return createUpstashClient({ ...this.options, timeoutMs });
  }

  get(key: string): Promise<string | null> {
    return this.redis.get<string>(key);
  }

  mget(keys: readonly string[]): Promise<(string | null)[]> {
    return this.redis.mget<(string | null)[]>(...keys);
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const flags = {
      ...(options.ttlMs === undefined ? {} : { px: options.ttlMs }),
      ...(options.onlyIfAbsent ? { nx: true as const } : {}),
    };
    const reply = await this.redis.set(key, value, flags as { px: number; nx: true });
    return reply === "OK";
  }

  incr(key: string, ttlMs?: number): Promise<number> {
    return this.incrScript.exec([key], [String(ttlMs ?? 0)]);
  }

  incrShared(key: string): Promise<number> {
    return this.redis.incr(key);
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.pexpire(key, ttlMs)) === 1;
  }

  ttl(key: string): Promise<number> {
    return this.redis.pttl(key);
  }

  del(...keys: string[]): Promise<number> {
    return this.redis.del(...keys);
  }

  async incrementFields(key: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const [field, by] of Object.entries(fields)) pipeline.hincrby(key, field, by);
    pipeline.pexpire(key, ttlMs);
    await pipeline.exec();
  }

  async readFields(key: string): Promise<Record<string, number>> {
    // Without automatic deserialization the client hands back Redis's flat [field, value, …] reply.
    const reply = (await this.redis.hgetall(key)) as unknown as string[] | null;
    const fields: Record<string, number> = {};
    for (let i = 0; i + 1 < (reply?.length ?? 0); i += 2) fields[reply?.[i] as string] = Number(reply?.[i + 1]);
    return fields;
  }

  async spendBudget(key: string, spend: BudgetSpend): Promise<BudgetOutcome | undefined> {
    // EVALSHA: one round trip once the script is loaded.
    return budgetOutcomeOf(await this.budgetScript.exec([key], budgetScriptArgs(spend)));
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }
}

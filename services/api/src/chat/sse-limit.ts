import { randomUUID } from 'node:crypto';
import { GatewayError } from '@gateway/contracts';
import { type Keys, luaScript } from '@gateway/queue';
import type { Redis } from 'ioredis';

/** The set lives as long as its latest lease (leases of other api instances included), not longer. */
const EXPIRE_WITH_LAST = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
`;

/**
 * KEYS[1] = a user's open streams (zset: lease -> lapse time in ms). ARGV = now, lease, lapse, max.
 * Takes a lease if fewer than max live ones are held. Lapsed leases are dropped only when the count
 * reaches max (the only time they could change the answer; otherwise the key's expiry takes them), and
 * the key expires with the new lease, the latest to lapse (leases lapse `leaseMs` after their last
 * renewal; another instance's clock running ahead by less than the renewal period changes nothing, as
 * its next renewal sets the expiry to the latest lease again). Steady state: ZCARD, ZADD, PEXPIREAT.
 * Returns {taken (0|1), held}.
 */
const ACQUIRE = `
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[4]) then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
  held = redis.call('ZCARD', KEYS[1])
  if held >= tonumber(ARGV[4]) then return {0, held} end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1, held + 1}
`;

/** KEYS[1] = a user's open streams. ARGV = lapse, lease...: pushes back the lapse of leases still held. */
const RENEW = `
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i]) end
${EXPIRE_WITH_LAST}
return 0
`;

export interface SseLimitOptions {
  /** Streams one user may hold open at once (SSE_MAX_PER_USER). */
  max: number;
  /** A lease not renewed for this long lapses: the streams of an api instance that died free up. */
  leaseMs?: number;
  /** The Redis key of one owner's leases (default: their SSE streams). */
  keyOf?: (owner: string) => string;
  /** The 429 for an owner who holds `max` already (default: the SSE streams' message). */
  refusal?: (held: number, max: number) => GatewayError;
}

const tooManyStreams = (held: number, max: number) =>
  new GatewayError(
    'rate_limited',
    `you have ${held} event streams open, the most one user may have; close one, or poll GET /chat/jobs/{id}`,
    { retryAfter: 5, details: { scope: 'sse_streams', limit: max } },
  );

/**
 * Caps the SSE streams one user holds open across every api instance. Each open stream is a lease in a
 * per-user sorted set in Redis; the instance holding it renews it while the stream lives and removes it
 * when the stream closes, so a crashed instance's leases lapse on their own after `leaseMs`.
 */
export class SseLimiter {
  private readonly acquireScript;
  private readonly renewScript;
  /** Leases this process holds, by the user's key. */
  private readonly held = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;
  private readonly leaseMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly opts: SseLimitOptions,
  ) {
    this.acquireScript = luaScript<[number, number]>(redis, 'gwSseAcquire', 1, ACQUIRE);
    this.renewScript = luaScript<number>(redis, 'gwSseRenew', 1, RENEW);
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.timer = setInterval(() => void this.renew(), this.leaseMs / 3);
    this.timer.unref();
  }

  /** Takes a stream slot for `owner`, or throws 429 `rate_limited`. The returned function gives it back. */
  async acquire(owner: string): Promise<() => void> {
    const key = this.opts.keyOf ? this.opts.keyOf(owner) : this.keys.userSseStreams(owner);
    const lease = randomUUID();
    const now = Date.now();
    const [taken, held] = await this.acquireScript(key, now, lease, now + this.leaseMs, this.opts.max);
    if (taken !== 1) throw (this.opts.refusal ?? tooManyStreams)(held, this.opts.max);
    const set = this.held.get(key) ?? new Set<string>();
    this.held.set(key, set);
    set.add(lease);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      set.delete(lease);
      if (set.size === 0) this.held.delete(key);
      // Best effort: if Redis is away, the lease lapses by itself.
      this.redis.zrem(key, lease).catch(() => {});
    };
  }

  /** Leases held by this process, for tests and metrics. */
  get size(): number {
    let n = 0;
    for (const set of this.held.values()) n += set.size;
    return n;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async renew(): Promise<void> {
    const lapse = Date.now() + this.leaseMs;
    await Promise.all(
      [...this.held].map(([key, leases]) => this.renewScript(key, lapse, ...leases).catch(() => 0)),
    );
  }
}

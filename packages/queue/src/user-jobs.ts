import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';

/**
 * KEYS[1] = the owner's active job ids, scored by when they were added. ARGV: job id, limit, ttl, now.
 * Check and add in one step, so a burst of parallel submits cannot pass the cap together.
 * Returns {1, active} when the job holds a slot (also when it already did), {0, active} when full.
 */
const ACQUIRE = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, redis.call('ZCARD', KEYS[1])} end
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then return {0, n} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, n + 1}
`;

export interface UserJobSlot {
  acquired: boolean;
  /** The owner's queued plus running jobs, counting this one when it was acquired. */
  active: number;
}

// A slot taken at submit whose job record does not exist yet is not an orphan: give the submit this long.
const CREATE_GRACE_MS = 60_000;

/**
 * A user's queued and running chat jobs, as a sorted set of job ids: the api adds at submit, whoever ends the
 * job removes it. Removing is idempotent (ZREM), so a re-run job or two enders never count twice, and
 * the count never drifts below zero. An end that never reached `release` (a process killed at the wrong
 * moment) is repaired when the cap is reached: ids whose job record has ended or expired are dropped.
 */
export class UserJobCounter {
  private readonly acquireScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {
    this.acquireScript = luaScript<[number, number]>(redis, 'gwAcquireUserJob', 1, ACQUIRE);
  }

  async acquire(owner: string, jobId: string, limit: number): Promise<UserJobSlot> {
    const attempt = async (): Promise<UserJobSlot> => {
      const [ok, active] = await this.acquireScript(
        this.keys.userActiveJobs(owner),
        jobId,
        limit,
        this.ttlSeconds,
        Date.now(),
      );
      return { acquired: ok === 1, active: Number(active) };
    };
    const first = await attempt();
    if (first.acquired || (await this.prune(owner)) === 0) return first;
    return attempt();
  }

  async release(owner: string, jobId: string): Promise<void> {
    await this.redis.zrem(this.keys.userActiveJobs(owner), jobId);
  }

  async active(owner: string): Promise<number> {
    return this.redis.zcard(this.keys.userActiveJobs(owner));
  }

  /** Drops ids whose job is no longer queued or running; returns how many. */
  async prune(owner: string): Promise<number> {
    const set = this.keys.userActiveJobs(owner);
    const flat = await this.redis.zrange(set, '0', '-1', 'WITHSCORES');
    const entries: { id: string; at: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, at: Number(flat[i + 1]) });
    if (entries.length === 0) return 0;
    // One command per job (not a pipeline): on a Redis Cluster the job records live in different slots.
    const statuses = await Promise.all(entries.map((e) => this.redis.hget(this.keys.job(e.id), 'status')));
    const now = Date.now();
    const ended = entries
      .filter((e, i) => {
        const status = statuses[i] ?? null;
        if (status === null) return now - e.at > CREATE_GRACE_MS;
        return status !== 'queued' && status !== 'running';
      })
      .map((e) => e.id);
    if (ended.length > 0) await this.redis.zrem(set, ...ended);
    return ended.length;
  }
}

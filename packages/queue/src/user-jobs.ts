import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';

/**
 * KEYS: the owner's active job ids (zset scored by when each was added), the bytes of their requests (hash,
 * field = job id, plus `#total`, their running sum; same slot). ARGV: job id, job limit, ttl, now, this
 * request's bytes, byte budget (0: none).
 * Checks and adds in one step, so a burst of parallel submits cannot pass a cap together. Whether the job
 * holds a slot already (a repeated acquire) is asked only where a cap would refuse it: otherwise ZADD NX
 * answers it (nothing is added or counted twice). A release only removes the id, so `#total` may count
 * ended jobs too (never too little): the common case costs O(1), and only a request that would pass the
 * budget by that sum pays for the exact count, which drops the entries of jobs no longer active and
 * rewrites `#total`. Expiry: a new set gets its TTL, and both keys' TTLs are pushed back once the last
 * push (`#exp`, ms, kept in the hash) is a tenth of the TTL old, so each key outlives the owner's last
 * acquire by 0.9 TTL or more without two EXPIREs per job (without a byte budget there is no hash to keep
 * `#exp` in: the set's TTL is pushed back every time). Returns {1, active, bytes held} when the job
 * holds a slot (also when it already did), {0, active, bytes held} when a cap refuses it.
 */
const ACQUIRE = `
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then
  if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, n, 0} end
  return {0, n, 0}
end
local budget = tonumber(ARGV[6])
local bytes = tonumber(ARGV[5])
local ttl = tonumber(ARGV[3])
local held = 0
local fresh = false
if budget > 0 then
  local t = redis.call('HMGET', KEYS[2], '#total', '#exp')
  held = tonumber(t[1] or '0')
  fresh = tonumber(ARGV[4]) - tonumber(t[2] or '0') < ttl * 100
  if held + bytes > budget then
    if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, n, 0} end
    local live = {}
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do live[id] = true end
    local h = redis.call('HGETALL', KEYS[2])
    local stale = {}
    held = 0
    for i = 1, #h, 2 do
      if h[i] ~= '#total' and h[i] ~= '#exp' then
        if live[h[i]] then held = held + tonumber(h[i + 1]) else stale[#stale + 1] = h[i] end
      end
    end
    if #stale > 0 then redis.call('HDEL', KEYS[2], unpack(stale)) end
    redis.call('HSET', KEYS[2], '#total', held)
    if held + bytes > budget then return {0, n, held} end
  end
end
if redis.call('ZADD', KEYS[1], 'NX', ARGV[4], ARGV[1]) == 0 then return {1, n, 0} end
if n == 0 or not fresh then redis.call('EXPIRE', KEYS[1], ttl) end
if budget > 0 then
  if fresh then
    redis.call('HSET', KEYS[2], ARGV[1], bytes, '#total', held + bytes)
  else
    redis.call('HSET', KEYS[2], ARGV[1], bytes, '#total', held + bytes, '#exp', ARGV[4])
    redis.call('EXPIRE', KEYS[2], ttl)
  end
end
return {1, n + 1, held + bytes}
`;

export interface UserJobSlot {
  acquired: boolean;
  /** The owner's queued plus running jobs, counting this one when it was acquired. */
  active: number;
  /** Bytes of those jobs' requests (counted only under a byte budget). */
  bytes: number;
  /** What refused it: the job count or the byte budget. */
  refusedBy?: 'jobs' | 'bytes';
}

/** The per-user caps: jobs queued or running, and the bytes of their stored requests (0: no byte cap). */
export interface UserJobLimits {
  jobs: number;
  bytes: number;
}

// A slot taken at submit whose job record does not exist yet is not an orphan: give the submit this long.
const CREATE_GRACE_MS = 60_000;

/**
 * A user's queued and running chat jobs, as a sorted set of job ids (and, under a byte budget, the size of
 * each one's request, so one user cannot park megabytes of prompts in Redis): the api adds at submit, whoever ends the
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
    this.acquireScript = luaScript<[number, number, number]>(redis, 'gwAcquireUserJob', 2, ACQUIRE);
  }

  /**
   * Takes a slot for `jobId` whose request is `bytes` long, within `limits` (a number: a job cap alone).
   * When a cap is reached, ids of jobs that ended without a release are pruned and it tries once more.
   */
  async acquire(
    owner: string,
    jobId: string,
    limits: number | UserJobLimits,
    bytes = 0,
  ): Promise<UserJobSlot> {
    const cap = typeof limits === 'number' ? { jobs: limits, bytes: 0 } : limits;
    const attempt = async (): Promise<UserJobSlot> => {
      const [ok, active, held] = await this.acquireScript(
        this.keys.userActiveJobs(owner),
        this.keys.userRequestBytes(owner),
        jobId,
        cap.jobs,
        this.ttlSeconds,
        Date.now(),
        bytes,
        cap.bytes,
      );
      const n = Number(active);
      if (ok === 1) return { acquired: true, active: n, bytes: Number(held) };
      return { acquired: false, active: n, bytes: Number(held), refusedBy: n >= cap.jobs ? 'jobs' : 'bytes' };
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

import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '@gateway/contracts';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';

/**
 * KEYS: the server's seats hash (field = job id, value `n:running:seq:lock token`, plus `#seq`), its queue's
 * BullMQ meta, active list, wait list, prioritized set and marker (one hash tag). ARGV: op (`take`,
 * `release`, `reconcile`), the server's cap, the queue's job key prefix (Keys.bullJobPrefix), job id,
 * sequences n, the job's lock token.
 *
 * BullMQ counts every active job as one of the queue's global concurrency. A job of n sequences (vLLM `n`,
 * or Ollama's n runs at once) is n of the server's cap: while it is registered here the queue's concurrency
 * is lowered by its n - 1 extra seats, so BullMQ starts fewer other jobs. Registered jobs start in the
 * order they came (the oldest waiting one only, so a wide job is never passed by narrower ones for ever)
 * once the active jobs outside this hash, the running registered ones and its own n fit the cap.
 *
 * Crash safety without a clean-up hook: a holder counts only while BullMQ's lock of its job still holds
 * its token. A SIGKILLed worker's lock lapses; the next call (any job's take or release, a worker's start,
 * a stalled job) drops the entry and gives the seats back. Every call writes the concurrency afresh from
 * the live holders, and wakes a blocked worker when room opened while jobs wait (BullMQ only marks a
 * queue when a job is added or ends).
 *
 * Returns {1, concurrency} when the job may generate, {0, concurrency} while it waits, {-1, concurrency}
 * when its lock is not (or no longer) its token: another worker runs it now.
 */
const SEATS = `
local op, cap, prefix, id, token = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[6]
local holders, stale, mine = {}, {}, nil
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  if f ~= '#seq' then
    local n, run, seq, tok = string.match(all[i + 1], '^(%d+):(%d):(%d+):(.*)$')
    local live = n ~= nil and redis.call('GET', prefix .. f .. ':lock') == tok
    if live and op == 'release' and f == id and tok == token then live = false end
    if live then
      local h = {id = f, n = tonumber(n), run = run == '1', seq = tonumber(seq), token = tok}
      holders[#holders + 1] = h
      if f == id and tok == token then mine = h end
    else
      stale[#stale + 1] = f
    end
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
if op == 'take' and not mine then
  if redis.call('GET', prefix .. id .. ':lock') ~= token then
    return {-1, tonumber(redis.call('HGET', KEYS[2], 'concurrency') or '0')}
  end
  local seq = redis.call('HINCRBY', KEYS[1], '#seq', 1)
  mine = {id = id, n = tonumber(ARGV[5]), run = false, seq = seq, token = token}
  holders[#holders + 1] = mine
  redis.call('HSET', KEYS[1], id, mine.n .. ':0:' .. seq .. ':' .. token)
end
local extra, running, head = 0, 0, nil
for _, h in ipairs(holders) do
  extra = extra + h.n - 1
  if h.run then
    running = running + h.n
  elseif head == nil or h.seq < head.seq then
    head = h
  end
end
local granted = 0
if mine then
  if mine.run then
    granted = 1
  elseif mine == head then
    local single = math.max(0, redis.call('LLEN', KEYS[3]) - #holders)
    if single + running + mine.n <= cap then
      granted = 1
      redis.call('HSET', KEYS[1], id, mine.n .. ':1:' .. mine.seq .. ':' .. token)
    end
  end
end
if #holders == 0 then redis.call('DEL', KEYS[1]) end
local limit = math.max(0, cap - extra)
local before = tonumber(redis.call('HGET', KEYS[2], 'concurrency') or '-1')
if before ~= limit then redis.call('HSET', KEYS[2], 'concurrency', limit) end
if limit > before and redis.call('LLEN', KEYS[3]) < limit
  and redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', KEYS[5]) > 0 then
  redis.call('ZADD', KEYS[6], 0, '0')
end
return {granted, limit}
`;

/** The seats one job holds; give them back once its sequences are done. */
export interface HeldSeats {
  /** Idempotent; never throws (a failed release is repaired by the next reconcile). */
  release(): Promise<void>;
}

const NOTHING_HELD: HeldSeats = { release: async () => {} };

/**
 * One GPU server's cap shared by jobs of different widths: a job of n sequences holds n of it (see SEATS).
 * The cap itself lives in Redis as the BullMQ queue's global concurrency, which this class owns: set it
 * with `reconcile`, never with `Queue.setGlobalConcurrency`, or a running wide job's seats are forgotten.
 */
export class ServerSeats {
  private readonly script;
  private readonly keyList: string[];
  private readonly jobPrefix: string;
  private repair: NodeJS.Timeout | null = null;

  constructor(
    redis: Redis,
    keys: Keys,
    server: string,
    /** The server's cap: sequences in flight at once over all workers. */
    readonly cap: number,
    /** How often a waiting job looks again: from `min`, doubling up to `max` (ms). */
    private readonly pollMs = { min: 20, max: 200 },
  ) {
    const q = keys.chatQueue(server);
    this.keyList = [
      keys.seats(server),
      keys.bull(q, 'meta'),
      keys.bull(q, 'active'),
      keys.bull(q, 'wait'),
      keys.bull(q, 'prioritized'),
      keys.bull(q, 'marker'),
    ];
    this.jobPrefix = keys.bullJobPrefix(q);
    this.script = luaScript<[number, number]>(redis, 'gwServerSeats', this.keyList.length, SEATS);
  }

  private call(op: 'take' | 'release' | 'reconcile', jobId = '', n = 0, token = '') {
    return this.script(...this.keyList, op, this.cap, this.jobPrefix, jobId, n, token);
  }

  /**
   * Sets the queue's concurrency from the cap and the seats live jobs hold, dropping those of jobs whose
   * worker died. Run at a worker's start and whenever a job stalled. Returns the concurrency now.
   */
  async reconcile(): Promise<number> {
    const [, limit] = await this.call('reconcile');
    return limit;
  }

  /**
   * Waits until the `n` sequences of the active job `jobId` (BullMQ lock `token`) fit the cap, then holds
   * them. n <= 1 holds nothing: the job's own BullMQ slot is its one seat. An n above the cap is held as
   * the whole cap (the job runs alone). Aborting `signal` stops the wait and gives the seats back.
   */
  async take(jobId: string, token: string, n: number, signal?: AbortSignal): Promise<HeldSeats> {
    if (n <= 1) return NOTHING_HELD;
    const seats = Math.min(n, this.cap);
    let released = false;
    const held: HeldSeats = {
      release: async () => {
        if (released) return;
        released = true;
        await this.call('release', jobId, seats, token).catch(() => this.scheduleRepair());
      },
    };
    let delay = this.pollMs.min;
    try {
      for (;;) {
        signal?.throwIfAborted();
        const [granted] = await this.call('take', jobId, seats, token);
        if (granted === 1) return held;
        if (granted === -1) {
          throw new GatewayError('cancelled', 'the job is no longer held by this worker (its lock moved on)');
        }
        await sleep(delay, undefined, signal ? { signal } : {});
        delay = Math.min(delay * 2, this.pollMs.max);
      }
    } catch (err) {
      await held.release();
      throw signal?.aborted ? signal.reason : err;
    }
  }

  /** A release that failed (Redis away): reconcile once a second until it goes through. */
  private scheduleRepair(): void {
    if (this.repair) return;
    this.repair = setInterval(() => {
      this.reconcile().then(
        () => this.stop(),
        () => {},
      );
    }, 1_000);
    this.repair.unref();
  }

  stop(): void {
    if (this.repair) clearInterval(this.repair);
    this.repair = null;
  }
}

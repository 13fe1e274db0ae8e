import type { Redis } from 'ioredis';
import type { Keys, QueueName } from './keys.js';
import { luaScript } from './lua.js';

/**
 * KEYS: stats hash, the queue's wait list, its prioritized set. ARGV: run time (ms), now (ms). Folds the run
 * time into `avg_ms`, counts `finished`, and while jobs wait, folds the gap since the last finish into
 * `gap_ms`. Returns nothing.
 */
const RECORD_JOB = `local h = redis.call('HMGET', KEYS[1], 'avg_ms', 'finished', 'last_finish_at', 'gap_ms')
local ms = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local a = tonumber(h[1] or ARGV[1])
local last = tonumber(h[3] or '0')
local out = {'avg_ms', a * 0.9 + ms * 0.1, 'finished', tonumber(h[2] or '0') + 1, 'last_finish_at', now}
local gap = now - last
-- Prioritized first: with fair share every waiting job is there, so a saturated queue answers in one read.
if last > 0 and gap >= 0 and gap < 60000 and (redis.call('ZCARD', KEYS[3]) > 0 or redis.call('LLEN', KEYS[2]) > 0) then
  local g = tonumber(h[4] or gap)
  out[#out + 1] = 'gap_ms'
  out[#out + 1] = g * 0.9 + gap * 0.1
end
redis.call('HSET', KEYS[1], unpack(out))`;

/** Cheap views of a queue: depth, one job's place in line, recent job times. */
export class QueueStats {
  private readonly recordScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly queue: QueueName,
    /** Where the times are kept (one hash per chat server; same hash tag as the queue). */
    private readonly statsKey = keys.chatStats(),
  ) {
    this.recordScript = luaScript(redis, 'gwRecordJob', 3, RECORD_JOB);
  }

  /** Jobs waiting for a slot (plain FIFO and prioritized). */
  async depth(): Promise<number> {
    // Two reads, not a MULTI: an estimate needs no snapshot, and MULTI/EXEC are two more commands.
    const [wait, prioritized] = await Promise.all([
      this.redis.llen(this.keys.bull(this.queue, 'wait')),
      this.redis.zcard(this.keys.bull(this.queue, 'prioritized')),
    ]);
    return wait + prioritized;
  }

  /**
   * 1-based place in line, or null when the job is not waiting. BullMQ serves the FIFO list (oldest at its
   * right end) before prioritized jobs (lowest score first).
   */
  async position(jobId: string): Promise<number | null> {
    const waitKey = this.keys.bull(this.queue, 'wait');
    const [idx, len, rank] = await Promise.all([
      this.redis.lpos(waitKey, jobId),
      this.redis.llen(waitKey),
      this.redis.zrank(this.keys.bull(this.queue, 'prioritized'), jobId),
    ]);
    if (idx !== null && idx !== undefined && len !== null && len !== undefined) return len - idx;
    if (rank !== null && rank !== undefined) return (len ?? 0) + rank + 1;
    return null;
  }

  /**
   * Records a finished job: its run time into a moving average, and, while jobs are waiting (all slots
   * busy), the gap since the previous finish into a second average. That gap is what a waiting job
   * really waits per place in line: run time over concurrency plus the queue's own hand-over time.
   */
  async recordJobTime(ms: number, now = Date.now()): Promise<void> {
    await this.recordScript(
      this.statsKey,
      this.keys.bull(this.queue, 'wait'),
      this.keys.bull(this.queue, 'prioritized'),
      ms,
      now,
    );
  }

  /** Both figures of a waiting job's estimate (`slotGapMs`, `averageJobMs`) in one read. */
  async timings(): Promise<{ slotGapMs: number | null; averageJobMs: number | null }> {
    const [gap, avg] = await this.redis.hmget(this.statsKey, 'gap_ms', 'avg_ms');
    return { slotGapMs: gap ? Number(gap) : null, averageJobMs: avg ? Number(avg) : null };
  }

  /** Milliseconds a waiting job waits per place in line, measured while the queue was saturated. */
  async slotGapMs(): Promise<number | null> {
    const v = await this.redis.hget(this.statsKey, 'gap_ms');
    return v ? Number(v) : null;
  }

  async averageJobMs(): Promise<number | null> {
    const v = await this.redis.hget(this.statsKey, 'avg_ms');
    return v ? Number(v) : null;
  }
}

/** Liveness of worker processes: each refreshes its score; a process not seen for `staleMs` is offline. */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly kind: 'llm' | 'tts',
    private readonly staleMs = 15_000,
  ) {}

  async beat(workerId: string, now = Date.now()): Promise<void> {
    const key = this.keys.workers(this.kind);
    await this.redis
      .multi()
      .zadd(key, now, workerId)
      .zremrangebyscore(key, 0, now - this.staleMs * 4)
      .exec();
  }

  async leave(workerId: string): Promise<void> {
    await this.redis.zrem(this.keys.workers(this.kind), workerId);
  }

  async online(now = Date.now()): Promise<number> {
    return this.redis.zcount(this.keys.workers(this.kind), now - this.staleMs, '+inf');
  }
}

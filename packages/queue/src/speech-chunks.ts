import type { JobEvent } from '@gateway/contracts';
import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';
import type { RetryPolicy } from './queues.js';

/**
 * Speech of a reply while it streams: each sentence chunk is its own TTS job, synthesized as soon as it
 * is complete. Jobs may finish out of order (TTS_CONCURRENCY > 1); the chunk's `tts` event waits in the
 * job record until every earlier chunk of the same attempt is out, so listeners get them 0, 1, 2…
 * The llm-worker seals the attempt with its chunk count after the reply; whoever releases the last
 * chunk (or seals after it) gets `complete` once and assembles the whole reply's audio.
 *
 * Record fields per attempt A: `tts_c:A:N` the event of chunk N ('' when it has nothing to say),
 * `tts_c:A:next` the first chunk not yet sent, `tts_c:A:ready` how many chunk events were sent (the
 * progress polling clients see), `tts_c:A:total` the count, `tts_c:A:failed` the first
 * failure, `tts_c:A:complete` the claim of the assembler.
 */

// Same stream entry and channel message as the job scripts (scripts.ts): `e`, `d`; "id\nname\njson".
const ADVANCE = `
local function advance(p, ttl)
  local n = tonumber(redis.call('HGET', KEYS[1], p .. 'next') or '0')
  local sent = 0
  while true do
    local ev = redis.call('HGET', KEYS[1], p .. n)
    if not ev then break end
    if ev ~= '' then
      local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', 20000, '*', 'e', 'tts', 'd', ev)
      redis.call('PUBLISH', KEYS[2], id .. '\\ntts\\n' .. ev)
      sent = sent + 1
    end
    n = n + 1
  end
  redis.call('HSET', KEYS[1], p .. 'next', n)
  if sent > 0 then
    redis.call('HINCRBY', KEYS[1], p .. 'ready', sent)
    redis.call('EXPIRE', KEYS[2], ttl)
  end
  local total = redis.call('HGET', KEYS[1], p .. 'total')
  if total and tonumber(total) == n and redis.call('HSETNX', KEYS[1], p .. 'complete', '1') == 1 then
    return 1
  end
  return 0
end
-- Chunks of an attempt count only while it is the job's current one, running or completed (a cancelled
-- job's chunks are dropped; one cancelled too late to stop its reply still gets its speech and done).
local function current(attempt)
  local h = redis.call('HMGET', KEYS[1], 'status', 'attempt')
  return h[1] and h[2] == attempt and (h[1] == 'running' or h[1] == 'completed')
end
`;

/**
 * KEYS[1] job hash, KEYS[2] its event stream
 * ARGV[1] attempt, ARGV[2] chunk number, ARGV[3] the chunk's tts event JSON ('' for none),
 * ARGV[4] failure reason ('' for none), ARGV[5] ttl
 * Returns {code, complete}: code 1 stored (and sent with any chunks it unblocked), 0 already stored,
 * -1 superseded (another attempt runs, the job was cancelled or is gone).
 */
const RELEASE_CHUNK = `${ADVANCE}
if not current(ARGV[1]) then return {-1, 0} end
local p = 'tts_c:' .. ARGV[1] .. ':'
if redis.call('HSETNX', KEYS[1], p .. ARGV[2], ARGV[3]) == 0 then return {0, 0} end
if ARGV[4] ~= '' then redis.call('HSETNX', KEYS[1], p .. 'failed', ARGV[4]) end
return {1, advance(p, tonumber(ARGV[5]))}
`;

/**
 * KEYS[1] job hash, KEYS[2] its event stream
 * ARGV[1] attempt, ARGV[2] chunk count, ARGV[3] ttl
 * Returns {code, complete} as above; only a completed job's attempt is sealed.
 */
const SEAL_CHUNKS = `${ADVANCE}
if not current(ARGV[1]) or redis.call('HGET', KEYS[1], 'status') ~= 'completed' then return {-1, 0} end
local p = 'tts_c:' .. ARGV[1] .. ':'
if redis.call('HSETNX', KEYS[1], p .. 'total', ARGV[2]) == 0 then return {0, 0} end
return {1, advance(p, tonumber(ARGV[3]))}
`;

export type ChunkRelease = { code: 'stored' | 'duplicate' | 'superseded'; complete: boolean };

const toRelease = (r: unknown): ChunkRelease => {
  const [code, complete] = r as [number, number];
  return { code: code === 1 ? 'stored' : code === 0 ? 'duplicate' : 'superseded', complete: complete === 1 };
};

export class SpeechChunks {
  private readonly releaseChunk;
  private readonly sealChunks;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {
    this.releaseChunk = luaScript(redis, 'gwReleaseTtsChunk', 2, RELEASE_CHUNK);
    this.sealChunks = luaScript(redis, 'gwSealTtsChunks', 2, SEAL_CHUNKS);
  }

  /**
   * Whether chunk `n` of `attempt` was already stored (it is never spoken twice), and whether a chunk of
   * the attempt failed for good (the rest are not tried: a refused voice would be refused again).
   */
  async check(id: string, attempt: number, n: number): Promise<{ stored: boolean; failed: boolean }> {
    const [stored, failed] = await this.redis.hmget(
      this.keys.job(id),
      `tts_c:${attempt}:${n}`,
      `tts_c:${attempt}:failed`,
    );
    return {
      stored: stored !== null && stored !== undefined,
      failed: failed !== null && failed !== undefined,
    };
  }

  /** Stores chunk `n`'s event (null: nothing to say, or it failed with `failure`) and sends what is in order. */
  async release(
    id: string,
    attempt: number,
    n: number,
    event: Extract<JobEvent, { event: 'tts' }>['data'] | null,
    failure = '',
  ): Promise<ChunkRelease> {
    const r = await this.releaseChunk(
      this.keys.job(id),
      this.keys.events(id),
      attempt,
      n,
      event ? JSON.stringify(event) : '',
      failure,
      this.ttlSeconds,
    );
    return toRelease(r);
  }

  /** The attempt made `total` chunks: once they are all out, the whole reply can be assembled. */
  async seal(id: string, attempt: number, total: number): Promise<ChunkRelease> {
    return toRelease(
      await this.sealChunks(this.keys.job(id), this.keys.events(id), attempt, total, this.ttlSeconds),
    );
  }

  /**
   * The first chunk of a sealed attempt that is not out yet (null: none, or not sealed). The seal watches
   * it: a chunk whose job was never queued or failed for good would otherwise hold the reply's speech.
   */
  async firstUnreleased(id: string, attempt: number): Promise<number | null> {
    const [next, total] = await this.redis.hmget(
      this.keys.job(id),
      `tts_c:${attempt}:next`,
      `tts_c:${attempt}:total`,
    );
    if (total === null || total === undefined) return null;
    const all = Number(total);
    for (let n = Number(next ?? 0); n < all; n++) {
      if ((await this.redis.hexists(this.keys.job(id), `tts_c:${attempt}:${n}`)) === 0) return n;
    }
    return null;
  }

  /** How many chunks the attempt made and the first failure among them, if any. */
  async summary(id: string, attempt: number): Promise<{ total: number; failure: string | null }> {
    const [total, failure] = await this.redis.hmget(
      this.keys.job(id),
      `tts_c:${attempt}:total`,
      `tts_c:${attempt}:failed`,
    );
    return { total: Number(total ?? 0), failure: failure ?? null };
  }
}

/**
 * Which attempt's audio `?chunk=N` of a job serves: the current attempt's, when that chunk was spoken while
 * the reply streamed (its event is stored; chunk audio is kept per attempt), else none (undefined): the
 * chunks of speech made after the reply (delayed, on_click, a re-run asked with POST .../tts).
 */
export async function chunkAudioAttempt(
  redis: Redis,
  keys: Keys,
  id: string,
  attempt: number,
  n: number,
): Promise<number | undefined> {
  const [run, event] = await redis.hmget(keys.job(id), 'tts_run', `tts_c:${attempt}:${n}`);
  return !Number(run ?? 0) && event ? attempt : undefined;
}

/** How many chunk `tts` events of the attempt were sent so far: speech progress for polling clients. */
export async function chunksReady(redis: Redis, keys: Keys, id: string, attempt: number): Promise<number> {
  return Number((await redis.hget(keys.job(id), `tts_c:${attempt}:ready`)) ?? 0);
}

/** The BullMQ id of a chunk's TTS job. */
export const ttsChunkJobId = (chatJobId: string, attempt: number, chunk: number) =>
  `${chatJobId}-tts-a${attempt}-c${chunk}`;

/**
 * A chunk's TTS job: one BullMQ id per attempt and chunk (adding it twice is a no-op). A reply's first
 * chunk has the top priority, so every listener starts soon when the TTS server is busy; later chunks
 * come next, still ahead of `delayed` speech (10).
 */
export function ttsChunkJobOptions(
  chatJobId: string,
  attempt: number,
  chunk: number,
  retry: RetryPolicy,
): JobsOptions {
  return {
    jobId: ttsChunkJobId(chatJobId, attempt, chunk),
    priority: chunk === 0 ? 1 : 2,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: { age: 3_600, count: 10_000 },
  };
}

/** The job that seals an attempt's chunks after the reply (its `chunks` says how many). */
export function ttsSealJobOptions(chatJobId: string, attempt: number, retry: RetryPolicy): JobsOptions {
  return { ...ttsChunkJobOptions(chatJobId, attempt, 1, retry), jobId: `${chatJobId}-tts-a${attempt}-end` };
}

import type { TtsInfo } from '@gateway/contracts';
import { type Keys, luaScript } from '@gateway/queue';
import type { Redis } from 'ioredis';

/**
 * KEYS[1] = the chat job's hash. ARGV = the pending tts info (JSON), ttl seconds.
 * Starts the next speech run unless one is pending, running or done: reads the tts status and the run
 * number and writes both in one step, so that clicks at the same moment start one run between them.
 * Returns {1, run} when this call started run `run`, {0, run, tts} when a run was already under way
 * (or finished), {-1} when the job is gone.
 */
const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local run = tonumber(redis.call('HGET', KEYS[1], 'tts_run') or '0')
local tts = redis.call('HGET', KEYS[1], 'tts')
if tts then
  local status = cjson.decode(tts).status
  if status == 'pending' or status == 'running' or status == 'completed' then return {0, run, tts} end
end
run = run + 1
redis.call('HSET', KEYS[1], 'tts', ARGV[1], 'tts_run', run)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return {1, run}
`;

export type SpeechClaim =
  | { started: true; run: number }
  | { started: false; run: number; tts: TtsInfo | null }
  | { started: false; gone: true };

/** The on-demand speech runs of chat replies (POST /chat/jobs/:id/tts). */
export class SpeechRuns {
  private readonly claimScript;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {
    this.claimScript = luaScript(redis, 'gwClaimSpeechRun', 1, CLAIM);
  }

  /** Marks the job's speech `pending` under a new run number, unless a run is already under way or done. */
  async claim(jobId: string, pending: TtsInfo): Promise<SpeechClaim> {
    const r = (await this.claimScript(this.keys.job(jobId), JSON.stringify(pending), this.ttlSeconds)) as [
      number,
      number?,
      string?,
    ];
    if (r[0] === -1) return { started: false, gone: true };
    if (r[0] === 1) return { started: true, run: Number(r[1]) };
    return { started: false, run: Number(r[1]), tts: r[2] ? (JSON.parse(r[2]) as TtsInfo) : null };
  }
}

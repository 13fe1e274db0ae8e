import type { TtsChunkInfo, TtsInfo, TtsJobData, TtsJobResult } from '@gateway/contracts';
import { type SpeechChunks, ttsChunkJobId } from '@gateway/queue';
import type { Job, Queue } from 'bullmq';
import type { TtsJobContext, TtsJobDeps, TtsOutcome } from './job-types.js';
import { audioUrl, guards, jobResult } from './process-tts-job.js';
import { round2, synthesizeWav, toGatewayError } from './synthesize.js';
import { prepareText } from './text.js';
import { joinWav } from './wav.js';

export interface ChunkJobDeps extends TtsJobDeps {
  chunks: SpeechChunks;
  /** Where a chunk's TTS job stands: still to run (or running), or lost with the reason why. */
  chunkJob: (jobId: string) => Promise<ChunkJobState>;
  /** Submit to the first chunk's audio being ready, in ms. */
  firstAudio?: (ms: number) => void;
}

/**
 * One sentence chunk of a reply that is still being written (or the job that seals an attempt's chunks
 * after the reply). The chunk is synthesized and stored, then released: its `tts` event goes out as soon
 * as every earlier chunk of the attempt is out. Whoever completes the attempt assembles the whole reply,
 * then sends the final `tts` event and `done` (always after `reply`: the seal comes after it).
 */
export async function processChunkJob(
  data: TtsJobData,
  deps: ChunkJobDeps,
  ctx: TtsJobContext,
): Promise<TtsOutcome> {
  const id = data.job_id;
  const attempt = data.attempt ?? 1;
  if (data.chunks !== undefined) {
    const sealed = await deps.chunks.seal(id, attempt, data.chunks);
    if (sealed.complete) return assemble(data, deps, attempt);
    if (sealed.code === 'superseded') return { outcome: 'already_ended' };
    return watchChunks(data, deps, attempt);
  }
  const n = data.chunk ?? 0;
  // A chunk is spoken once per attempt, whatever re-runs or duplicate adds happen.
  const seen = await deps.chunks.check(id, attempt, n);
  if (seen.stored) return { outcome: 'already_ended' };
  const rec = await deps.jobs.get(id);
  if (!rec) return { outcome: 'expired' };
  if (rec.attempt !== attempt || !(rec.status === 'running' || rec.status === 'completed')) {
    return { outcome: 'already_ended' }; // a newer attempt replaces this one, or the job was cancelled
  }

  let event: TtsChunkInfo | null = null;
  let failure = '';
  // Passed over without a sound: cancel asked (the job ends cancelled in a moment), an earlier chunk
  // failed for good (the final event says why), or speech is off.
  if (!rec.cancelRequested && !seen.failed && !deps.engine.skip) {
    try {
      const voice = deps.engine.resolveVoice(data.voice_id);
      const prep = prepareText(data.text, deps.settings);
      if (!prep.ok && prep.code === 'tts_text_too_long') failure = `tts_text_too_long: ${prep.reason}`;
      if (prep.ok) {
        const wav = await synthesizeWav(deps.engine, {
          text: prep.text,
          voice,
          speed: deps.settings.speed,
          signal: ctx.signal,
        });
        await deps.store.write({ id, chunk: n, attempt }, 'audio/wav', wav.wav);
        event = {
          status: 'running',
          mode: data.mode,
          voice_id: voice,
          format: 'wav',
          audio_url: audioUrl(id, n),
          duration_seconds: round2(wav.durationSeconds),
          chunk: n,
          attempt,
        };
      }
    } catch (err) {
      const error = toGatewayError(err);
      if (error.retryable && ctx.attemptsMade + 1 < ctx.maxAttempts) {
        deps.log.warn({ err: error, chunk: n }, 'speech of a chunk failed, will retry');
        return { outcome: 'retry', error };
      }
      deps.log.warn({ err: error, chunk: n }, 'speech of a chunk failed');
      failure = `${error.code}: ${error.message}`;
    }
  }
  const released = await deps.chunks.release(id, attempt, n, event, failure);
  if (released.code === 'stored' && n === 0 && event) deps.firstAudio?.(Date.now() - data.created_at);
  if (released.complete) return assemble(data, deps, attempt);
  return { outcome: 'completed', result: nothing(data) };
}

/** How often the seal looks again at a chunk still on its way. */
export const SEAL_RECHECK_MS = 1_000;

export type ChunkJobState = 'live' | { lost: string };

/** A chunk's TTS job as the queue has it: waiting, delayed or running is live; absent or failed is lost. */
export async function chunkJobState(queue: Queue, jobId: string): Promise<ChunkJobState> {
  const state = await queue.getJobState(jobId);
  if (state === 'failed') {
    const job = await queue.getJob(jobId);
    return { lost: `tts_failed: speech of a sentence failed (${job?.failedReason ?? 'no reason kept'})` };
  }
  // A completed chunk job released its chunk before it completed (or its attempt was replaced).
  if (state === 'unknown' || state === 'completed') {
    return { lost: 'tts_failed: speech of a sentence was never queued' };
  }
  return 'live';
}

/**
 * The seal stays until the attempt's speech has ended: every chunk is released by its own job, except one
 * whose job is gone (its queuing failed) or failed for good before releasing it; the seal releases that one
 * as failed, so the reply's final `tts` event and `done` always come. It looks at the first chunk not yet
 * out, and again every SEAL_RECHECK_MS while that one is still on its way.
 */
async function watchChunks(data: TtsJobData, deps: ChunkJobDeps, attempt: number): Promise<TtsOutcome> {
  const id = data.job_id;
  for (let n = await deps.chunks.firstUnreleased(id, attempt); n !== null; ) {
    const state = await deps.chunkJob(ttsChunkJobId(id, attempt, n));
    if (state === 'live') return { outcome: 'wait', ms: SEAL_RECHECK_MS };
    deps.log.warn({ chunk: n, reason: state.lost }, 'a chunk of the reply was lost; its speech fails');
    const released = await deps.chunks.release(id, attempt, n, null, state.lost);
    if (released.complete) return assemble(data, deps, attempt);
    if (released.code === 'superseded') return { outcome: 'already_ended' };
    n = await deps.chunks.firstUnreleased(id, attempt);
  }
  return { outcome: 'completed', result: nothing(data) };
}

/**
 * A chunk job (or seal) that failed for good, or whose worker died again and again: its chunk counts as
 * failed, so the reply still ends. Retries to come are not an end: the job is still live then.
 */
export async function onChunkJobFailed(job: Job<TtsJobData>, err: Error, deps: ChunkJobDeps): Promise<void> {
  if (job.data.standalone || job.data.attempt === undefined) return;
  const stalled = /stalled/i.test(err.message);
  if (!stalled && typeof job.finishedOn !== 'number') return;
  const error = toGatewayError(err);
  const reason = stalled
    ? 'job_stalled: the tts-worker stopped again and again'
    : `tts_failed: speech of a sentence failed (${error.code}: ${error.message})`;
  await failChunk(job.data, deps, reason);
}

/** A chunk whose worker died again and again: counted as failed, so the reply still ends. */
export async function failChunk(data: TtsJobData, deps: ChunkJobDeps, reason: string): Promise<void> {
  const attempt = data.attempt ?? 1;
  const released =
    data.chunks !== undefined
      ? await deps.chunks.seal(data.job_id, attempt, data.chunks)
      : await deps.chunks.release(data.job_id, attempt, data.chunk ?? 0, null, reason);
  if (released.complete) await assemble(data, deps, attempt);
}

/** Every chunk of the attempt is out: the whole reply's WAV, the final `tts` event and `done`. */
async function assemble(data: TtsJobData, deps: ChunkJobDeps, attempt: number): Promise<TtsOutcome> {
  const id = data.job_id;
  const { total, failure } = await deps.chunks.summary(id, attempt);
  let voice: string | null = data.voice_id;
  try {
    voice = deps.engine.skip ? voice : deps.engine.resolveVoice(data.voice_id);
  } catch {
    // The chunks' failures already say why.
  }
  const parts: Buffer[] = [];
  for (let n = 0; n < total; n++) {
    const part = await deps.store.read({ id, chunk: n, attempt });
    if (part) parts.push(part);
  }
  const info = (status: TtsInfo['status'], extra: Partial<TtsInfo>): TtsInfo => ({
    status,
    mode: data.mode,
    voice_id: voice,
    format: 'wav',
    ...extra,
  });
  let tts: TtsInfo;
  let size: number | null = null;
  if (deps.engine.skip) tts = info('skipped', { reason: 'speech is turned off (TTS_ENGINE=none)' });
  else if (failure) tts = info('failed', { reason: failure });
  else if (parts.length === 0) tts = info('skipped', { reason: 'nothing to speak' });
  else {
    const whole = joinWav(parts);
    await deps.store.write({ id }, 'audio/wav', whole.wav);
    size = whole.wav.length;
    tts = info('completed', { audio_url: audioUrl(id), duration_seconds: round2(whole.durationSeconds) });
  }
  await deps.jobs.patch(
    id,
    { tts: JSON.stringify(tts) },
    [
      { event: 'tts', data: tts },
      { event: 'done', data: { status: 'completed' } },
    ],
    guards.end(0),
  );
  deps.log.info(
    { voice, chunks: total, status: tts.status, wholeAudioMs: Date.now() - data.created_at },
    'speech ready',
  );
  const result = jobResult(id, voice, tts, size);
  return { outcome: tts.status === 'completed' ? 'completed' : 'skipped', result };
}

const nothing = (data: TtsJobData): TtsJobResult => ({
  audio_id: data.job_id,
  status: 'skipped',
  content_type: null,
  size: null,
  duration_seconds: null,
  voice_id: data.voice_id,
  reason: 'a part of a reply',
});

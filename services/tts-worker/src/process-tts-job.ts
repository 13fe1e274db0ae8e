import {
  GatewayError,
  type JobEvent,
  type TtsInfo,
  type TtsJobData,
  type TtsJobResult,
} from '@gateway/contracts';
import type { TtsJobContext, TtsJobDeps, TtsOutcome } from './job-types.js';
import { processStandalone } from './standalone.js';
import { round2, synthesizeWav, toGatewayError } from './synthesize.js';
import { prepareText } from './text.js';
import { durationOf, joinWav, parseWav } from './wav.js';

export type { TtsJobContext, TtsJobDeps, TtsOutcome, TtsSettings } from './job-types.js';

export const audioUrl = (id: string, chunk?: number) =>
  chunk === undefined ? `/chat/jobs/${id}/audio` : `/chat/jobs/${id}/audio?chunk=${chunk}`;

/** Guard fields on the chat job record: each event of a run is emitted once, whatever re-runs happen. */
export const guards = {
  chunk: (run: number, n: number) => `tts_chunk:${run}:${n}`,
  end: (run: number) => `tts_end:${run}`,
};

/**
 * One speech job. For a chat reply: sentence by sentence, each sentence's audio is stored and announced
 * (`tts` event with `chunk`) as soon as it exists, then the whole reply's WAV, the final `tts` event and
 * `done`. Safe to run again after a crash: sentences already stored are reused and no event repeats.
 */
export async function processTtsJob(
  data: TtsJobData,
  deps: TtsJobDeps,
  ctx: TtsJobContext,
): Promise<TtsOutcome> {
  if (data.standalone) return processStandalone(data, deps, ctx);
  const { jobs, log } = deps;
  const id = data.job_id;
  const run = data.run ?? 0;
  const rec = await jobs.get(id);
  if (!rec) return { outcome: 'expired' };
  if (await deps.isSet(id, guards.end(run))) return { outcome: 'already_ended' };
  if (rec.status !== 'completed' || !rec.reply) return { outcome: 'already_ended' };

  let voice: string | null = data.voice_id;
  const info = (status: TtsInfo['status'], extra: Partial<TtsInfo> = {}): TtsInfo => ({
    status,
    mode: data.mode,
    voice_id: voice,
    format: 'wav',
    ...extra,
  });
  const end = async (tts: TtsInfo) => {
    await jobs.patch(
      id,
      { tts: JSON.stringify(tts) },
      [
        { event: 'tts', data: tts },
        { event: 'done', data: { status: 'completed' } },
      ],
      guards.end(run),
    );
  };
  const result = (tts: TtsInfo, size: number | null) => jobResult(id, voice, tts, size);

  try {
    if (deps.engine.skip) {
      const tts = info('skipped', { reason: 'speech is turned off (TTS_ENGINE=none)' });
      await end(tts);
      return { outcome: 'skipped', result: result(tts, null) };
    }
    voice = deps.engine.resolveVoice(data.voice_id);
    const prep = prepareText(data.text, deps.settings);
    if (!prep.ok) {
      if (prep.code === 'nothing_to_speak') {
        const tts = info('skipped', { reason: prep.reason });
        await end(tts);
        return { outcome: 'skipped', result: result(tts, null) };
      }
      throw new GatewayError('tts_text_too_long', prep.reason);
    }
    await jobs.patch(id, { tts: JSON.stringify(info('running')) }, []);
    const sentences = deps.settings.chunkSentences ? prep.sentences : [prep.text];
    const parts: Buffer[] = [];
    let firstAt: number | null = null;
    for (const [n, text] of sentences.entries()) {
      const done = await deps.isSet(id, guards.chunk(run, n));
      let audio = done ? await deps.store.read({ id, chunk: n }) : null;
      let seconds: number;
      if (audio) {
        const stored = parseWav(audio);
        seconds = durationOf(stored.format, stored.data.length);
      } else {
        const wav = await synthesizeWav(deps.engine, {
          text,
          voice,
          speed: deps.settings.speed,
          signal: ctx.signal,
        });
        audio = wav.wav;
        seconds = wav.durationSeconds;
        await deps.store.write({ id, chunk: n }, 'audio/wav', audio);
      }
      parts.push(audio);
      const chunkEvent: JobEvent = {
        event: 'tts',
        data: {
          ...info('running', { audio_url: audioUrl(id, n), duration_seconds: round2(seconds) }),
          chunk: n,
        },
      };
      await jobs.patch(id, {}, [chunkEvent], guards.chunk(run, n));
      firstAt ??= Date.now();
    }
    const whole = joinWav(parts);
    await deps.store.write({ id }, 'audio/wav', whole.wav);
    const tts = info('completed', {
      audio_url: audioUrl(id),
      duration_seconds: round2(whole.durationSeconds),
    });
    await end(tts);
    log.info(
      {
        voice,
        chunks: sentences.length,
        durationSeconds: tts.duration_seconds,
        firstAudioMs: firstAt === null ? null : firstAt - data.created_at,
        wholeAudioMs: Date.now() - data.created_at,
      },
      'speech ready',
    );
    return { outcome: 'completed', result: result(tts, whole.wav.length) };
  } catch (err) {
    const error = toGatewayError(err);
    if (error.retryable && ctx.attemptsMade + 1 < ctx.maxAttempts) {
      log.warn({ err: error }, 'speech failed, will retry');
      await jobs.patch(
        id,
        { tts: JSON.stringify(info('pending', { reason: `retrying after ${error.code}` })) },
        [],
      );
      return { outcome: 'retry', error };
    }
    log.warn({ err: error }, 'speech failed');
    const tts = info('failed', { reason: `${error.code}: ${error.message}` });
    await end(tts);
    return { outcome: 'failed', error, result: result(tts, null) };
  }
}

/** What a speech job returns to BullMQ: where its WAV is (if any) and how it ended. */
export function jobResult(id: string, voice: string | null, tts: TtsInfo, size: number | null): TtsJobResult {
  return {
    audio_id: id,
    status: tts.status === 'completed' ? 'completed' : tts.status === 'failed' ? 'failed' : 'skipped',
    content_type: size === null ? null : 'audio/wav',
    size,
    duration_seconds: tts.duration_seconds ?? null,
    voice_id: voice,
    ...(tts.reason ? { reason: tts.reason } : {}),
  };
}

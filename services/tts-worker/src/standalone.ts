import { GatewayError, type TtsJobData } from '@gateway/contracts';
import type { TtsJobContext, TtsJobDeps, TtsOutcome } from './job-types.js';
import { collect, round2, toGatewayError } from './synthesize.js';
import { prepareText } from './text.js';
import { joinWav } from './wav.js';

/** Speech asked for directly (OpenAI facade): no chat job to update; the audio is stored under the job id. */
export async function processStandalone(
  data: TtsJobData,
  deps: TtsJobDeps,
  ctx: TtsJobContext,
): Promise<TtsOutcome> {
  const id = data.job_id;
  let voice: string | null = data.voice_id;
  const failed = (error: GatewayError): TtsOutcome => ({
    outcome: 'failed',
    error,
    result: {
      audio_id: id,
      status: 'failed',
      content_type: null,
      size: null,
      duration_seconds: null,
      voice_id: voice,
      reason: `${error.code}: ${error.message}`,
    },
  });
  try {
    if (deps.engine.skip) throw new GatewayError('tts_disabled', 'speech is turned off (TTS_ENGINE=none)');
    voice = deps.engine.resolveVoice(data.voice_id);
    // The caller's text is spoken as given, apart from what no engine can say (markup, emoji).
    const prep = prepareText(data.text, { ...deps.settings, stripActions: false });
    if (!prep.ok)
      throw new GatewayError(
        prep.code === 'tts_text_too_long' ? 'tts_text_too_long' : 'invalid_input',
        prep.reason,
      );
    const speed = data.speed ?? deps.settings.speed;
    let stored: { contentType: string; size: number };
    let duration: number | null = null;
    const out = await deps.engine.synthesize({
      text: prep.text,
      voice,
      format: data.format,
      speed,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if (out.contentType.startsWith('audio/wav') || out.contentType === 'audio/x-wav') {
      // WAV gets its real sizes written (espeak-ng streams placeholders); anything else streams to storage.
      const wav = joinWav([await collect(out.body)]);
      stored = await deps.store.write({ id }, 'audio/wav', wav.wav);
      duration = wav.durationSeconds;
    } else {
      stored = await deps.store.write({ id }, out.contentType, out.body);
    }
    return {
      outcome: 'completed',
      result: {
        audio_id: id,
        status: 'completed',
        content_type: stored.contentType,
        size: stored.size,
        duration_seconds: duration === null ? null : round2(duration),
        voice_id: voice,
      },
    };
  } catch (err) {
    const error = toGatewayError(err);
    if (error.retryable && ctx.attemptsMade + 1 < ctx.maxAttempts) return { outcome: 'retry', error };
    return failed(error);
  }
}

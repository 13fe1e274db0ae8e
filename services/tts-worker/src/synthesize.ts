import { GatewayError, isGatewayError } from '@gateway/contracts';
import type { TtsEngine } from './engines/index.js';
import { isWav, joinWav } from './wav.js';

/** One sentence is far below this; a server sending more is broken. */
const MAX_AUDIO_BYTES = 64 * 1024 * 1024;

export async function collect(body: AsyncIterable<Uint8Array>, limit = MAX_AUDIO_BYTES): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new GatewayError('tts_failed', `the TTS engine sent more than ${limit} bytes`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

/** Speech for `text` as a WAV with correct header sizes (engines that stream write placeholders). */
export async function synthesizeWav(
  engine: TtsEngine,
  req: { text: string; voice: string; speed: number; signal?: AbortSignal | undefined },
): Promise<{ wav: Buffer; durationSeconds: number }> {
  const out = await engine.synthesize({
    text: req.text,
    voice: req.voice,
    format: 'wav',
    speed: req.speed,
    ...(req.signal ? { signal: req.signal } : {}),
  });
  const bytes = await collect(out.body);
  if (!isWav(bytes)) {
    throw new GatewayError(
      'tts_failed',
      `${engine.name} TTS did not return WAV audio (got ${out.contentType}, ${bytes.length} bytes)`,
    );
  }
  return joinWav([bytes]);
}

export const round2 = (n: number) => Math.round(n * 100) / 100;

/** Anything a job throws, as a typed error: unknown ones are retried (they may be passing). */
export function toGatewayError(err: unknown): GatewayError {
  if (isGatewayError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && (err.name === 'WavError' || err.name === 'AudioTooLargeError')) {
    return new GatewayError('tts_failed', message, { cause: err });
  }
  return new GatewayError('worker_error', message, { cause: err });
}

import { buildWav } from '../../services/tts-worker/src/wav.js';

/** 0.1 s of silence as a WAV file (16 kHz mono 16-bit): what a stand-in TTS server answers. */
export function silenceWav(): Buffer {
  const format = {
    audioFormat: 1,
    channels: 1,
    sampleRate: 16_000,
    bitsPerSample: 16,
    blockAlign: 2,
    byteRate: 32_000,
  };
  return buildWav(format, [Buffer.alloc(3_200)]);
}

import { GatewayError } from '@gateway/contracts';
import type { SynthesisOutput, TtsEngine } from './types.js';

/** `TTS_ENGINE=none`: speech is turned off; jobs that still arrive are recorded as skipped. */
export class NoTtsEngine implements TtsEngine {
  readonly name = 'none';
  readonly skip = true;
  readonly voiceBound = false;
  currentVoice(): string | null {
    return null;
  }
  async check(): Promise<void> {}
  resolveVoice(voiceId: string | null): string {
    return voiceId ?? 'none';
  }
  async synthesize(): Promise<SynthesisOutput> {
    throw new GatewayError('tts_disabled', 'speech is turned off (TTS_ENGINE=none)');
  }
  async close(): Promise<void> {}
}

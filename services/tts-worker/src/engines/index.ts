import type { Config } from '@gateway/config';
import { loadVoiceTable } from '../voices.js';
import { EspeakEngine } from './espeak.js';
import { GptSovitsEngine } from './gpt-sovits.js';
import { NoTtsEngine } from './none.js';
import { OpenAiTtsEngine } from './openai.js';
import type { TtsEngine } from './types.js';

export type { EngineName, SynthesisOutput, SynthesisRequest, TtsEngine } from './types.js';

/** The engine named by TTS_ENGINE. Throws (with the variable's name) when its settings are wrong. */
export function createEngine(tts: Config['tts']): TtsEngine {
  const voices = loadVoiceTable({ json: tts.voicesJson, file: tts.voicesFile });
  switch (tts.engine) {
    case 'espeak':
      return new EspeakEngine({
        bin: tts.espeakBin,
        timeoutMs: tts.timeoutMs,
        defaultVoice: tts.defaultVoice ?? 'ko',
        voices,
      });
    case 'openai':
      return new OpenAiTtsEngine({
        baseUrl: tts.baseUrl ?? '',
        model: tts.model,
        apiKey: tts.apiKey,
        timeoutMs: tts.timeoutMs,
        defaultVoice: tts.defaultVoice ?? 'alloy',
        voices,
        connections: tts.concurrency,
      });
    case 'gpt-sovits':
      return new GptSovitsEngine({
        baseUrl: tts.baseUrl ?? '',
        timeoutMs: tts.timeoutMs,
        defaultVoice: tts.defaultVoice,
        voices,
      });
    case 'none':
      return new NoTtsEngine();
  }
}

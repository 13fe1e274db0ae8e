import { contentTypeOf } from '@gateway/audio-store';
import { GatewayError } from '@gateway/contracts';
import { type VoiceTable, voiceSpec } from '../voices.js';
import { TtsHttp } from './http.js';
import type { SynthesisOutput, SynthesisRequest, TtsEngine } from './types.js';

export interface OpenAiTtsOptions {
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
  timeoutMs: number;
  defaultVoice: string;
  voices: VoiceTable;
  connections: number;
}

export const OPENAI_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'];

/** The body of `POST /v1/audio/speech` (OpenAI; Kokoro-FastAPI, openedai-speech and others). */
export function openAiSpeechBody(model: string, req: SynthesisRequest) {
  return {
    model,
    input: req.text,
    voice: req.voice,
    response_format: OPENAI_FORMATS.includes(req.format) ? req.format : 'wav',
    speed: req.speed,
  };
}

export class OpenAiTtsEngine implements TtsEngine {
  readonly name = 'openai';
  readonly skip = false;
  readonly voiceBound = false;
  private readonly http: TtsHttp;

  constructor(private readonly o: OpenAiTtsOptions) {
    // Accept the base URL with or without its /v1.
    this.http = new TtsHttp('openai', o.baseUrl.replace(/\/v1\/?$/, ''), o.timeoutMs, o.connections);
  }

  currentVoice(): string | null {
    return null;
  }

  async check(): Promise<void> {}

  resolveVoice(voiceId: string | null): string {
    const id = voiceId ?? this.o.defaultVoice;
    return voiceSpec(this.o.voices, id)?.voice ?? id;
  }

  async synthesize(req: SynthesisRequest): Promise<SynthesisOutput> {
    const body = openAiSpeechBody(this.o.model, req);
    const res = await this.http.send('POST', '/v1/audio/speech', {
      json: body,
      headers: {
        accept: 'audio/*',
        ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}),
      },
      ...(req.signal ? { signal: req.signal } : {}),
    });
    const type = String(res.headers['content-type'] ?? '');
    if (type.includes('json')) {
      await this.http.discard(res);
      throw new GatewayError('tts_failed', 'openai TTS answered JSON instead of audio');
    }
    return {
      contentType: type.startsWith('audio/') ? type : contentTypeOf(body.response_format),
      body: this.http.body(res),
    };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

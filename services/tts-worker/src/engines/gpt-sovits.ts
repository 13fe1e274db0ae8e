import { GatewayError } from '@gateway/contracts';
import { isOpenAiVoice, type VoiceSpec, type VoiceTable, voiceSpec } from '../voices.js';
import { TtsHttp } from './http.js';
import type { SynthesisOutput, SynthesisRequest, TtsEngine } from './types.js';

export interface GptSovitsOptions {
  baseUrl: string;
  timeoutMs: number;
  /** null: the first voice of the table. */
  defaultVoice: string | null;
  voices: VoiceTable;
}

/** The body of GPT-SoVITS api_v2 `POST /tts` for one voice of the table. */
export function gptSovitsBody(spec: VoiceSpec, req: SynthesisRequest) {
  return {
    text: req.text,
    // `auto` lets the server split mixed text (Korean with English words) by language.
    text_lang: spec.text_lang ?? 'auto',
    ref_audio_path: spec.ref_audio_path,
    prompt_text: spec.prompt_text ?? '',
    prompt_lang: spec.prompt_lang,
    ...(spec.aux_ref_audio_paths ? { aux_ref_audio_paths: spec.aux_ref_audio_paths } : {}),
    media_type: 'wav',
    streaming_mode: false,
    speed_factor: req.speed * (spec.speed ?? 1),
    text_split_method: 'cut5',
    batch_size: 1,
  };
}

/**
 * GPT-SoVITS api_v2 (port 9880 in the original deployment). Its GPT and SoVITS weights are global to the
 * server and slow to load, so they are switched only when the voice changes, one request at a time per
 * process; the worker serves jobs in runs of one voice (see voice-runs.ts).
 */
export class GptSovitsEngine implements TtsEngine {
  readonly name = 'gpt-sovits';
  readonly skip = false;
  readonly voiceBound = true;
  private readonly http: TtsHttp;
  private loaded: { gpt: string | null; sovits: string | null; voice: string | null } = {
    gpt: null,
    sovits: null,
    voice: null,
  };
  private queue: Promise<unknown> = Promise.resolve();
  /** Weight switches made, for tests and logs. */
  switches = 0;

  constructor(private readonly o: GptSovitsOptions) {
    const ids = Object.keys(o.voices);
    if (ids.length === 0) {
      throw new GatewayError(
        'tts_engine_missing',
        'TTS_ENGINE=gpt-sovits needs a voice table: set TTS_VOICES or TTS_VOICES_FILE',
      );
    }
    for (const [id, spec] of Object.entries(o.voices)) {
      if (!spec.ref_audio_path || !spec.prompt_lang) {
        throw new GatewayError(
          'tts_engine_missing',
          `TTS_VOICES: voice "${id}" needs ref_audio_path and prompt_lang`,
        );
      }
    }
    this.http = new TtsHttp('gpt-sovits', o.baseUrl, o.timeoutMs, 1);
  }

  currentVoice(): string | null {
    return this.loaded.voice;
  }

  async check(): Promise<void> {}

  resolveVoice(voiceId: string | null): string {
    const fallback = this.o.defaultVoice ?? Object.keys(this.o.voices)[0]!;
    let id = voiceId ?? fallback;
    // An OpenAI voice name the table does not list speaks with the default voice.
    if (!voiceSpec(this.o.voices, id) && isOpenAiVoice(id)) id = fallback;
    if (!voiceSpec(this.o.voices, id)) {
      const known = Object.keys(this.o.voices).slice(0, 20).join(', ');
      throw new GatewayError('tts_failed', `unknown GPT-SoVITS voice "${id}" (known: ${known})`);
    }
    return id;
  }

  async synthesize(req: SynthesisRequest): Promise<SynthesisOutput> {
    const spec = voiceSpec(this.o.voices, req.voice);
    if (!spec) throw new GatewayError('tts_failed', `unknown GPT-SoVITS voice "${req.voice}"`);
    // One request at a time: a weight switch must not land between another voice's switch and synthesis.
    const run = this.queue.then(() => this.synthesizeNow(req.voice, spec, req));
    this.queue = run.catch(() => {});
    return run;
  }

  private async synthesizeNow(
    voice: string,
    spec: VoiceSpec,
    req: SynthesisRequest,
  ): Promise<SynthesisOutput> {
    const signal = req.signal ? { signal: req.signal } : {};
    await this.load('gpt', spec.gpt_weights, signal);
    await this.load('sovits', spec.sovits_weights, signal);
    this.loaded.voice = voice;
    const res = await this.http.send('POST', '/tts', { json: gptSovitsBody(spec, req), ...signal });
    // Read it all here so the next request waits for this one to finish on the server.
    const parts: Uint8Array[] = [];
    for await (const chunk of this.http.body(res)) parts.push(chunk);
    return {
      contentType: 'audio/wav',
      body: (async function* () {
        yield* parts;
      })(),
    };
  }

  private async load(kind: 'gpt' | 'sovits', path: string | undefined, signal: { signal?: AbortSignal }) {
    if (!path || this.loaded[kind] === path) return;
    // Unknown until the switch succeeds: a failed switch may have left the server half-way.
    this.loaded[kind] = null;
    this.loaded.voice = null;
    const res = await this.http.send(
      'GET',
      `/set_${kind}_weights?weights_path=${encodeURIComponent(path)}`,
      signal,
    );
    await this.http.discard(res);
    this.loaded[kind] = path;
    this.switches++;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

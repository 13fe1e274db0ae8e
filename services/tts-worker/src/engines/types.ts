export type EngineName = 'espeak' | 'openai' | 'gpt-sovits' | 'none';

export interface SynthesisRequest {
  text: string;
  /** The engine's own voice name, as returned by `resolveVoice`. */
  voice: string;
  /** OpenAI `response_format`: wav, mp3, opus, aac, flac, pcm. Engines that cannot make it answer wav. */
  format: string;
  /** 1 = normal. */
  speed: number;
  signal?: AbortSignal;
}

export interface SynthesisOutput {
  contentType: string;
  /** Audio bytes as they come; iterating may throw a GatewayError (the engine failed mid-way). */
  body: AsyncIterable<Uint8Array>;
}

/** One way of turning text into speech. Errors are GatewayErrors: `retryable` says whether to try again. */
export interface TtsEngine {
  readonly name: EngineName;
  /** `none`: nothing is synthesized, speech is recorded as skipped. */
  readonly skip: boolean;
  /**
   * The engine's server holds one voice at a time (GPT-SoVITS weights): jobs should be served in runs
   * of one voice. `currentVoice` is what this process last loaded.
   */
  readonly voiceBound: boolean;
  currentVoice(): string | null;
  /** Fails with `tts_engine_missing` when the engine cannot run here at all. */
  check(): Promise<void>;
  /** The engine's voice for a job's `voice_id` (null: the default); `tts_failed` for one it cannot speak. */
  resolveVoice(voiceId: string | null): string;
  synthesize(req: SynthesisRequest): Promise<SynthesisOutput>;
  close(): Promise<void>;
}

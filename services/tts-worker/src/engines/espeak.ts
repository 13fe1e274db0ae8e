import { spawn } from 'node:child_process';
import { GatewayError } from '@gateway/contracts';
import { isOpenAiVoice, type VoiceTable, voiceSpec } from '../voices.js';
import type { SynthesisOutput, SynthesisRequest, TtsEngine } from './types.js';

export interface EspeakOptions {
  bin: string;
  timeoutMs: number;
  defaultVoice: string;
  voices: VoiceTable;
}

/**
 * An espeak-ng voice: a language (`ko`, `en-us`, `cmn-latn-pinyin`) and an optional variant (`+f3`).
 * Nothing else gets through, so a voice can never be read as an option.
 */
export const ESPEAK_VOICE = /^[a-z]{2,3}(?:-[a-z0-9]{1,8}){0,3}(?:\+[A-Za-z0-9][A-Za-z0-9_-]{0,31})?$/;

// espeak-ng's variants, one per OpenAI voice (its usual female / male character), so that each name
// sounds different: `alloy` becomes `<default language>+f3`.
const OPENAI_VARIANTS: Record<string, string> = {
  alloy: 'f3',
  ash: 'm3',
  ballad: 'm5',
  coral: 'f2',
  echo: 'm1',
  fable: 'm4',
  nova: 'f4',
  onyx: 'm7',
  sage: 'f5',
  shimmer: 'f1',
  verse: 'm2',
  marin: 'f2',
  cedar: 'm6',
};

const BASE_WPM = 175; // espeak-ng's default speed

/** The command line: text comes on stdin (`--stdin`), never as an argument, so any Unicode is safe. */
export function espeakArgs(voice: string, speed: number): string[] {
  if (!ESPEAK_VOICE.test(voice)) throw new Error(`not an espeak-ng voice: ${voice}`);
  const wpm = Math.round(Math.min(450, Math.max(80, BASE_WPM * speed)));
  return ['-v', voice, '-s', String(wpm), '-b', '1', '--stdin', '--stdout'];
}

const missing = (bin: string) =>
  new GatewayError(
    'tts_engine_missing',
    `espeak-ng not found (TTS_ESPEAK_BIN=${bin}): install it with "apt-get install -y espeak-ng" or choose another TTS_ENGINE`,
  );

export class EspeakEngine implements TtsEngine {
  readonly name = 'espeak';
  readonly skip = false;
  readonly voiceBound = false;

  constructor(private readonly o: EspeakOptions) {}

  currentVoice(): string | null {
    return null;
  }

  async check(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const p = spawn(this.o.bin, ['--version'], { stdio: 'ignore', timeout: 5_000 });
      p.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' || err.code === 'EACCES' ? missing(this.o.bin) : err),
      );
      p.once('close', (code) => (code === 0 ? resolve() : reject(missing(this.o.bin))));
    });
  }

  resolveVoice(voiceId: string | null): string {
    const id = voiceId ?? this.o.defaultVoice;
    const voice = voiceSpec(this.o.voices, id)?.voice ?? this.openAiVoice(id) ?? id;
    if (!ESPEAK_VOICE.test(voice)) {
      throw new GatewayError(
        'tts_failed',
        `voice "${id}" is not an espeak-ng voice (such as ko, en-us, ko+f3); map it in TTS_VOICES`,
      );
    }
    return voice;
  }

  /** An OpenAI voice name: the default voice's language with that name's variant. */
  private openAiVoice(id: string): string | null {
    if (!isOpenAiVoice(id)) return null;
    const base = this.resolveVoice(null).split('+')[0];
    return `${base}+${OPENAI_VARIANTS[id]}`;
  }

  async synthesize(req: SynthesisRequest): Promise<SynthesisOutput> {
    const args = espeakArgs(req.voice, req.speed);
    return { contentType: 'audio/wav', body: this.run(args, req.text, req.signal) };
  }

  private async *run(args: string[], text: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const started = Date.now();
    const proc = spawn(this.o.bin, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: this.o.timeoutMs,
      killSignal: 'SIGKILL',
      ...(signal ? { signal } : {}),
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 2_000) stderr += d.toString('utf8');
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('close', (code, sig) => resolve({ code, signal: sig }));
    });
    exited.catch(() => {}); // read below; a spawn failure also ends stdout at once
    proc.stdin.on('error', () => {}); // EPIPE when espeak-ng exits early: its exit code tells why
    proc.stdin.end(text, 'utf8');
    try {
      for await (const chunk of proc.stdout) yield chunk as Buffer;
      const end = await exited.catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'EACCES') throw missing(this.o.bin);
        throw new GatewayError('tts_unavailable', `espeak-ng: ${err.message}`, { cause: err });
      });
      if (end.code === 0) return;
      if (end.signal !== null && Date.now() - started >= this.o.timeoutMs - 50) {
        throw new GatewayError('tts_unavailable', `espeak-ng took longer than ${this.o.timeoutMs} ms`);
      }
      const why = stderr.trim().split('\n')[0] || `exit ${end.code ?? end.signal}`;
      throw new GatewayError('tts_failed', `espeak-ng failed: ${why}`);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  }

  async close(): Promise<void> {}
}

import { readFileSync } from 'node:fs';

/**
 * The voice table (`TTS_VOICES` JSON or the file at `TTS_VOICES_FILE`): a job's `voice_id` -> what the
 * engine needs. espeak and openai read `voice` (their own voice name; the id itself when absent);
 * GPT-SoVITS reads the reference audio, its transcript and language, and the weights to load.
 */
export interface VoiceSpec {
  voice?: string;
  ref_audio_path?: string;
  prompt_text?: string;
  prompt_lang?: string;
  text_lang?: string;
  gpt_weights?: string;
  sovits_weights?: string;
  aux_ref_audio_paths?: string[];
  speed?: number;
}
export type VoiceTable = Record<string, VoiceSpec>;

const STRING_FIELDS = [
  'voice',
  'ref_audio_path',
  'prompt_text',
  'prompt_lang',
  'text_lang',
  'gpt_weights',
  'sovits_weights',
] as const;

export class VoiceTableError extends Error {
  override readonly name = 'VoiceTableError';
}

/** Reads the table from the environment's settings; the error names the variable at fault. */
export function loadVoiceTable(opts: { json: string | null; file: string | null }): VoiceTable {
  const table = emptyTable();
  if (opts.file) Object.assign(table, parseVoiceTable(readSource(opts.file), 'TTS_VOICES_FILE'));
  // Inline entries win: a deployment can override one voice of a shared file.
  if (opts.json) Object.assign(table, parseVoiceTable(opts.json, 'TTS_VOICES'));
  return table;
}

function readSource(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new VoiceTableError(
      `TTS_VOICES_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

export function parseVoiceTable(text: string, variable: string): VoiceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new VoiceTableError(`${variable}: not valid JSON`);
  }
  if (!isObject(raw)) throw new VoiceTableError(`${variable}: expected an object of voice_id -> settings`);
  const table = emptyTable();
  for (const [id, entry] of Object.entries(raw)) {
    const at = `${variable}: voice "${id}"`;
    if (!isObject(entry)) throw new VoiceTableError(`${at}: expected an object`);
    const spec: VoiceSpec = {};
    for (const [k, v] of Object.entries(entry)) {
      if ((STRING_FIELDS as readonly string[]).includes(k)) {
        if (typeof v !== 'string' || v === '')
          throw new VoiceTableError(`${at}: ${k} must be a non-empty string`);
        spec[k as (typeof STRING_FIELDS)[number]] = v;
      } else if (k === 'speed') {
        if (typeof v !== 'number' || !(v >= 0.25 && v <= 4))
          throw new VoiceTableError(`${at}: speed must be 0.25-4`);
        spec.speed = v;
      } else if (k === 'aux_ref_audio_paths') {
        if (!Array.isArray(v) || !v.every((p) => typeof p === 'string')) {
          throw new VoiceTableError(`${at}: aux_ref_audio_paths must be a list of paths`);
        }
        spec.aux_ref_audio_paths = v;
      } else {
        throw new VoiceTableError(`${at}: unknown setting ${k}`);
      }
    }
    table[id] = spec;
  }
  return table;
}

// No prototype: an entry named `__proto__` is stored as an entry, not as the table's prototype.
const emptyTable = (): VoiceTable => Object.create(null) as VoiceTable;

/** The table's own entry for a voice id; ids such as `constructor` never reach Object.prototype. */
export function voiceSpec(table: VoiceTable, id: string): VoiceSpec | undefined {
  return Object.hasOwn(table, id) ? table[id] : undefined;
}

/** OpenAI's voice names: clients such as the official SDK send them whatever the engine behind. */
export const OPENAI_VOICES = [
  'alloy',
  'ash',
  'ballad',
  'coral',
  'echo',
  'fable',
  'nova',
  'onyx',
  'sage',
  'shimmer',
  'verse',
  'marin',
  'cedar',
] as const;

export const isOpenAiVoice = (id: string) => (OPENAI_VOICES as readonly string[]).includes(id);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ESPEAK_VOICE, EspeakEngine } from './engines/espeak.js';
import { GptSovitsEngine } from './engines/gpt-sovits.js';
import { loadVoiceTable, OPENAI_VOICES, parseVoiceTable, voiceSpec } from './voices.js';

it('reads the voice table from a file and lets TTS_VOICES override entries', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'voices-'));
  const file = join(dir, 'voices.json');
  await writeFile(file, JSON.stringify({ mina: { voice: 'ko+f3' }, joon: { voice: 'ko' } }));
  const table = loadVoiceTable({ file, json: '{"mina":{"voice":"ko+f5","speed":1.1}}' });
  expect(table).toEqual({ mina: { voice: 'ko+f5', speed: 1.1 }, joon: { voice: 'ko' } });
  await rm(dir, { recursive: true });
});

it('names the variable and the voice at fault', () => {
  expect(() => parseVoiceTable('[', 'TTS_VOICES')).toThrow('TTS_VOICES: not valid JSON');
  expect(() => parseVoiceTable('{"a":{"colour":"red"}}', 'TTS_VOICES')).toThrow(
    'TTS_VOICES: voice "a": unknown setting colour',
  );
  expect(() => parseVoiceTable('{"a":{"speed":9}}', 'TTS_VOICES')).toThrow(/speed must be/);
  expect(() => loadVoiceTable({ file: '/nonexistent/v.json', json: null })).toThrow(
    /TTS_VOICES_FILE: cannot read/,
  );
});

it('looks voices up by own entries only: "constructor" or "__proto__" is no voice', () => {
  const table = parseVoiceTable('{"mina":{"voice":"ko+f3"}}', 'TTS_VOICES');
  expect(voiceSpec(table, 'mina')).toEqual({ voice: 'ko+f3' });
  expect(voiceSpec(table, 'constructor')).toBeUndefined();
  expect(voiceSpec(table, 'toString')).toBeUndefined();
  expect(voiceSpec(table, '__proto__')).toBeUndefined();
  const engine = new EspeakEngine({ bin: 'espeak-ng', timeoutMs: 1_000, defaultVoice: 'ko', voices: table });
  expect(() => engine.resolveVoice('constructor')).toThrow(/not an espeak-ng voice/);
  // An entry named like a prototype member is an ordinary voice.
  const odd = parseVoiceTable(
    '{"__proto__":{"voice":"en-us"},"constructor":{"voice":"ko+m3"}}',
    'TTS_VOICES',
  );
  expect(voiceSpec(odd, '__proto__')).toEqual({ voice: 'en-us' });
  expect(voiceSpec(odd, 'constructor')).toEqual({ voice: 'ko+m3' });
  expect(Object.getPrototypeOf(voiceSpec(odd, 'mina') ?? {})).toBe(Object.prototype);
});

it('maps OpenAI voice names to a voice of each engine unless the table maps them', () => {
  const table = parseVoiceTable('{"nova":{"voice":"en-gb+f2"}}', 'TTS_VOICES');
  const espeak = new EspeakEngine({ bin: 'espeak-ng', timeoutMs: 1_000, defaultVoice: 'ko', voices: table });
  expect(espeak.resolveVoice('nova')).toBe('en-gb+f2');
  const alloy = espeak.resolveVoice('alloy');
  const onyx = espeak.resolveVoice('onyx');
  expect(alloy).toMatch(/^ko\+/);
  expect(onyx).toMatch(/^ko\+/);
  expect(alloy).not.toBe(onyx);
  for (const name of OPENAI_VOICES) expect(ESPEAK_VOICE.test(espeak.resolveVoice(name))).toBe(true);
  const sovits = new GptSovitsEngine({
    baseUrl: 'http://127.0.0.1:1',
    timeoutMs: 1_000,
    defaultVoice: null,
    voices: parseVoiceTable('{"mina":{"ref_audio_path":"/r.wav","prompt_lang":"ko"}}', 'TTS_VOICES'),
  });
  expect(sovits.resolveVoice('shimmer')).toBe('mina');
  expect(() => sovits.resolveVoice('constructor')).toThrow(/unknown GPT-SoVITS voice/);
});

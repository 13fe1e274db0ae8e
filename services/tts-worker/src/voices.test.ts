import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadVoiceTable, parseVoiceTable } from './voices.js';

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

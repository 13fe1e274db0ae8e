import { describe, expect, it } from 'vitest';
import { buildWav, joinWav, parseWav, WavError } from './wav.js';

const fmt = {
  audioFormat: 1,
  channels: 1,
  sampleRate: 22_050,
  bitsPerSample: 16,
  blockAlign: 2,
  byteRate: 44_100,
};
const pcm = (n: number, v = 1) => {
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(v * (i % 100), i * 2);
  return b;
};

/** What espeak-ng --stdout writes: placeholder sizes, since it streams. */
const streamingWav = (samples: Buffer) => {
  const w = buildWav(fmt, [samples]);
  w.writeUInt32LE(0x7ffff024, 4);
  w.writeUInt32LE(0x7ffff000, 40);
  return w;
};

describe('wav', () => {
  it('reads a WAV with placeholder sizes up to the end of the bytes', () => {
    const samples = pcm(1_000);
    const parsed = parseWav(streamingWav(samples));
    expect(parsed.format).toEqual(fmt);
    expect(Buffer.compare(parsed.data, samples)).toBe(0);
  });

  it('joins sentence audio into one file with correct RIFF and data sizes', () => {
    const a = pcm(22_050, 1);
    const b = pcm(11_025, 2);
    const { wav, durationSeconds } = joinWav([streamingWav(a), buildWav(fmt, [b])]);
    expect(durationSeconds).toBeCloseTo(1.5);
    expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(wav.toString('latin1', 8, 12)).toBe('WAVE');
    expect(wav.readUInt32LE(40)).toBe(a.length + b.length);
    expect(Buffer.compare(wav.subarray(44), Buffer.concat([a, b]))).toBe(0);
    expect(parseWav(wav).format).toEqual(fmt);
  });

  it('skips extra chunks (LIST) and keeps whole frames only', () => {
    const samples = pcm(10);
    const list = Buffer.concat([
      Buffer.from('LIST'),
      Buffer.from([3, 0, 0, 0]),
      Buffer.from('abc'),
      Buffer.from([0]),
    ]);
    const w = buildWav(fmt, [samples]);
    const withList = Buffer.concat([w.subarray(0, 36), list, w.subarray(36), Buffer.from([7])]);
    withList.writeUInt32LE(0xffffffff, 36 + list.length + 4);
    expect(parseWav(withList).data.length).toBe(20);
  });

  it('reads WAVE_FORMAT_EXTENSIBLE as its sub-format', () => {
    const w = buildWav(fmt, [pcm(4)]);
    const ext = Buffer.alloc(24);
    ext.writeUInt16LE(22, 0);
    ext.writeUInt16LE(16, 2);
    ext.writeUInt16LE(1, 8); // sub-format GUID starts with the PCM tag
    const fmtChunk = Buffer.concat([w.subarray(20, 36), ext]);
    fmtChunk.writeUInt16LE(0xfffe, 0);
    const head = Buffer.from('RIFF\0\0\0\0WAVEfmt ', 'latin1');
    const size = Buffer.alloc(4);
    size.writeUInt32LE(fmtChunk.length);
    const file = Buffer.concat([head, size, fmtChunk, w.subarray(36)]);
    expect(parseWav(file).format.audioFormat).toBe(1);
    expect(parseWav(file).data.length).toBe(8);
  });

  it('refuses non-WAV bytes and mixed formats', () => {
    expect(() => parseWav(Buffer.from('ID3\x04 mp3 bytes'))).toThrow(WavError);
    expect(() => parseWav(Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'))).toThrow(/fmt/);
    const other = buildWav({ ...fmt, sampleRate: 24_000, byteRate: 48_000 }, [pcm(10)]);
    expect(() => joinWav([buildWav(fmt, [pcm(10)]), other])).toThrow(/differs in format/);
  });
});

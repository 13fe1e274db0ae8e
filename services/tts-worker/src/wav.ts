/**
 * WAV (RIFF) reading and writing, enough to join sentence audio into one file. Streaming producers
 * (espeak-ng --stdout, some TTS servers) write placeholder sizes such as 0x7fffffff; the reader takes
 * what is there and the writer always puts the real sizes in.
 */

export interface WavFormat {
  /** 1 = integer PCM, 3 = IEEE float. */
  audioFormat: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
  byteRate: number;
}

export interface ParsedWav {
  format: WavFormat;
  data: Buffer;
}

export class WavError extends Error {
  override readonly name = 'WavError';
}

const EXTENSIBLE = 0xfffe;

export function isWav(buf: Uint8Array): boolean {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WAVE';
}

export function parseWav(buf: Buffer): ParsedWav {
  if (!isWav(buf)) throw new WavError('not a WAV file (no RIFF/WAVE header)');
  let format: WavFormat | null = null;
  let pos = 12;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const declared = buf.readUInt32LE(pos + 4);
    const start = pos + 8;
    const size = Math.min(declared, buf.length - start);
    if (id === 'fmt ') {
      if (size < 16) throw new WavError('WAV fmt chunk too short');
      let audioFormat = buf.readUInt16LE(start);
      if (audioFormat === EXTENSIBLE && size >= 26) audioFormat = buf.readUInt16LE(start + 24);
      format = {
        audioFormat,
        channels: buf.readUInt16LE(start + 2),
        sampleRate: buf.readUInt32LE(start + 4),
        byteRate: buf.readUInt32LE(start + 8),
        blockAlign: buf.readUInt16LE(start + 12),
        bitsPerSample: buf.readUInt16LE(start + 14),
      };
    } else if (id === 'data') {
      if (!format) throw new WavError('WAV data before its fmt chunk');
      if (format.blockAlign === 0 || format.byteRate === 0)
        throw new WavError('WAV format has no frame size');
      // A cut-off stream may end mid-frame: keep whole frames only.
      const whole = size - (size % format.blockAlign);
      return { format, data: buf.subarray(start, start + whole) };
    }
    pos = start + size + (size % 2);
  }
  throw new WavError(format ? 'WAV file without a data chunk' : 'WAV file without a fmt chunk');
}

export function durationOf(format: WavFormat, dataBytes: number): number {
  return dataBytes / format.byteRate;
}

const sameFormat = (a: WavFormat, b: WavFormat) =>
  a.audioFormat === b.audioFormat &&
  a.channels === b.channels &&
  a.sampleRate === b.sampleRate &&
  a.bitsPerSample === b.bitsPerSample;

/** A canonical 44-byte-header WAV around the given sample data. */
export function buildWav(format: WavFormat, pcm: Buffer[]): Buffer {
  const dataBytes = pcm.reduce((n, p) => n + p.length, 0);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(format.audioFormat, 20);
  h.writeUInt16LE(format.channels, 22);
  h.writeUInt32LE(format.sampleRate, 24);
  h.writeUInt32LE(format.sampleRate * format.blockAlign, 28);
  h.writeUInt16LE(format.blockAlign, 32);
  h.writeUInt16LE(format.bitsPerSample, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([h, ...pcm]);
}

/** Joins WAV files of one format into one, with correct sizes; returns it with its duration. */
export function joinWav(parts: Buffer[]): { wav: Buffer; durationSeconds: number } {
  if (parts.length === 0) throw new WavError('nothing to join');
  const parsed = parts.map(parseWav);
  const format = parsed[0]!.format;
  for (const p of parsed) {
    if (!sameFormat(p.format, format)) {
      throw new WavError(
        `sentence audio differs in format (${p.format.sampleRate} Hz/${p.format.channels} ch/${p.format.bitsPerSample} bit vs ${format.sampleRate}/${format.channels}/${format.bitsPerSample})`,
      );
    }
  }
  const data = parsed.map((p) => p.data);
  const bytes = data.reduce((n, d) => n + d.length, 0);
  return { wav: buildWav(format, data), durationSeconds: durationOf(format, bytes) };
}

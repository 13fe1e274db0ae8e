import { crc32, deflateSync } from 'node:zlib';

/** Builds small valid PNG files with text chunks, the way SillyTavern and other card tools write them. */

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A 1x1 grey pixel: IHDR and IDAT of a real image, so that image viewers open the file. */
function pixel(): Buffer[] {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return [pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.from([0, 0x80])))];
}

export type TextChunk =
  | { kind: 'tEXt'; keyword: string; text: string }
  | { kind: 'zTXt'; keyword: string; text: string }
  | { kind: 'iTXt'; keyword: string; text: string; compressed?: boolean }
  /** Raw chunk data (for hostile files). */
  | { kind: 'raw'; type: string; data: Buffer };

export function textChunk(c: TextChunk): Buffer {
  const kw = (k: string) => Buffer.from(`${k}\0`, 'latin1');
  switch (c.kind) {
    case 'tEXt':
      return pngChunk('tEXt', Buffer.concat([kw(c.keyword), Buffer.from(c.text, 'latin1')]));
    case 'zTXt':
      return pngChunk(
        'zTXt',
        Buffer.concat([kw(c.keyword), Buffer.from([0]), deflateSync(Buffer.from(c.text, 'latin1'))]),
      );
    case 'iTXt': {
      const text = Buffer.from(c.text, 'utf8');
      return pngChunk(
        'iTXt',
        Buffer.concat([
          kw(c.keyword),
          Buffer.from([c.compressed ? 1 : 0, 0]),
          Buffer.from('\0\0'), // empty language tag and translated keyword
          c.compressed ? deflateSync(text) : text,
        ]),
      );
    }
    case 'raw':
      return pngChunk(c.type, c.data);
  }
}

/** A PNG image whose text chunks are `chunks`, in order, between the image data and IEND. */
export function buildPng(chunks: TextChunk[]): Buffer {
  return Buffer.concat([SIGNATURE, ...pixel(), ...chunks.map(textChunk), pngChunk('IEND', Buffer.alloc(0))]);
}

export const base64Json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

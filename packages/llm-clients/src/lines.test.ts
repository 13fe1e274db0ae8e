import { describe, expect, it } from 'vitest';
import { LineTooLongError, Utf8LineSplitter, Utf8TextStream } from './lines.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('Utf8LineSplitter', () => {
  it('joins a character split across chunks, one byte at a time', () => {
    const all = bytes('{"a":"안녕"}\n{"b":"하세요"}\n');
    const s = new Utf8LineSplitter(1024);
    const lines: string[] = [];
    for (const b of all) lines.push(...s.push(Uint8Array.of(b)));
    lines.push(...s.end());
    expect(lines).toEqual(['{"a":"안녕"}', '{"b":"하세요"}']);
  });

  it('handles CRLF, blank lines and an unterminated last line', () => {
    const s = new Utf8LineSplitter(1024);
    expect(s.push(bytes('a\r\n\r\nb'))).toEqual(['a', '']);
    expect(s.push(bytes('c'))).toEqual([]);
    expect(s.end()).toEqual(['bc']);
    expect(s.end()).toEqual([]);
  });

  it('rejects a line over the byte limit even without a newline, counting bytes not characters', () => {
    const s = new Utf8LineSplitter(10);
    expect(s.push(bytes('가나다\n'))).toEqual(['가나다']); // 9 bytes
    expect(() => s.push(bytes('가나다라'))).toThrow(LineTooLongError); // 12 bytes
  });

  it('the byte count carries across chunks and resets at each newline', () => {
    const s = new Utf8LineSplitter(4);
    s.push(bytes('abc'));
    expect(s.push(bytes('d\nabcd\n'))).toEqual(['abcd', 'abcd']);
    s.push(bytes('ab'));
    expect(() => s.push(bytes('cde'))).toThrow(/longer than 4 bytes/);
  });
});

describe('Utf8TextStream', () => {
  it('returns text with terminators and flushes an incomplete character at the end', () => {
    const t = new Utf8TextStream(100);
    const b = bytes('data: 안\n\n');
    expect(t.push(b.subarray(0, 7))).toBe('data: ');
    expect(t.push(b.subarray(7))).toBe('안\n\n');
    expect(t.push(Uint8Array.of(0xec))).toBe('');
    expect(t.end()).toBe('\ufffd');
  });
});

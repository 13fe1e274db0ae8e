import { describe, expect, it } from 'vitest';
import { parseRange } from './range.js';

describe('parseRange', () => {
  const size = 1000;
  it.each([
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=900-5000', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
    ['BYTES = 1-2', { kind: 'partial', start: 1, end: 2 }],
  ])('%s is one range', (header, want) => {
    expect(parseRange(header, size)).toEqual(want);
  });

  it.each(['bytes=1000-', 'bytes=1000-2000', 'bytes=-0'])('%s cannot be satisfied', (header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'unsatisfiable' });
  });

  it.each([undefined, '', 'bytes=0-1,5-9', 'items=0-1', 'bytes=x-1', 'bytes=5-1', 'bytes=-', '0-1'])(
    '%s is ignored: the whole file',
    (header) => {
      expect(parseRange(header, size)).toEqual({ kind: 'full' });
    },
  );

  it('refuses every range of an empty file', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

import { deflateSync } from 'node:zlib';
import { CHARACTER_LIMITS, isGatewayError } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { base64Json, buildPng, pngChunk } from '../../../../test/support/png-card.js';
import { importCard } from './card-import.js';
import { cardFromPng, MAX_CARD_TEXT } from './png-card.js';

const v2 = {
  spec: 'chara_card_v2',
  spec_version: '2.0',
  data: { name: 'Seraphina', description: '{{char}} guards the forest.', first_mes: 'Hi {{user}}' },
};
const v3 = { spec: 'chara_card_v3', spec_version: '3.0', data: { ...v2.data, name: 'Seraphina V3' } };

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
  } catch (err) {
    return isGatewayError(err) ? err.code : `not a GatewayError: ${String(err)}`;
  }
  return null;
}

describe('cardFromPng', () => {
  it('reads base64 JSON from tEXt, zTXt and iTXt (plain and compressed) chunks', () => {
    for (const png of [
      buildPng([{ kind: 'tEXt', keyword: 'chara', text: base64Json(v2) }]),
      buildPng([{ kind: 'zTXt', keyword: 'chara', text: base64Json(v2) }]),
      buildPng([{ kind: 'iTXt', keyword: 'chara', text: base64Json(v2) }]),
      buildPng([{ kind: 'iTXt', keyword: 'chara', text: base64Json(v2), compressed: true }]),
      buildPng([{ kind: 'iTXt', keyword: 'chara', text: JSON.stringify(v2) }]),
    ]) {
      expect(cardFromPng(png)).toEqual(v2);
    }
  });

  it('prefers ccv3 over chara, in either order, and skips other text chunks', () => {
    const chara = { kind: 'tEXt', keyword: 'chara', text: base64Json(v2) } as const;
    const ccv3 = { kind: 'zTXt', keyword: 'ccv3', text: base64Json(v3) } as const;
    const other = { kind: 'tEXt', keyword: 'Comment', text: 'made with a paint program' } as const;
    expect(cardFromPng(buildPng([other, chara, ccv3]))).toEqual(v3);
    expect(cardFromPng(buildPng([ccv3, chara]))).toEqual(v3);
    expect(cardFromPng(buildPng([other, chara]))).toEqual(v2);
  });

  it('keeps non-ASCII text of a V3 card', () => {
    const ko = { ...v3, data: { ...v3.data, name: '미나', description: '밝은 대학생 😀' } };
    expect(cardFromPng(buildPng([{ kind: 'tEXt', keyword: 'ccv3', text: base64Json(ko) }]))).toEqual(ko);
  });

  it('refuses what is not a PNG card with a 400', () => {
    expect(codeOf(() => cardFromPng(Buffer.from('{"name":"x"}')))).toBe('invalid_input');
    expect(codeOf(() => cardFromPng(buildPng([])))).toBe('invalid_input');
    expect(codeOf(() => cardFromPng(buildPng([{ kind: 'tEXt', keyword: 'chara', text: '%%%' }])))).toBe(
      'invalid_input',
    );
    const cut = buildPng([{ kind: 'tEXt', keyword: 'chara', text: base64Json(v2) }]);
    expect(codeOf(() => cardFromPng(cut.subarray(0, cut.length - 30)))).toBe('invalid_input');
    const notZlib = buildPng([
      { kind: 'raw', type: 'zTXt', data: Buffer.concat([Buffer.from('chara\0\0'), Buffer.from('nope')]) },
    ]);
    expect(codeOf(() => cardFromPng(notZlib))).toBe('invalid_input');
  });

  it('stops inflating a compressed bomb at the card cap, fast', () => {
    // 64 MB of zeros compress to about 64 KB: inflating must stop at the cap, not allocate 64 MB.
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024, 0x41));
    const png = buildPng([
      { kind: 'raw', type: 'zTXt', data: Buffer.concat([Buffer.from('chara\0\0'), bomb]) },
    ]);
    const started = performance.now();
    expect(codeOf(() => cardFromPng(png))).toBe('payload_too_large');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(MAX_CARD_TEXT).toBeLessThan(2 * CHARACTER_LIMITS.cardBytes);
  });

  it('refuses a card text over the cap and a PNG over its size cap with a 413', () => {
    const big = 'A'.repeat(MAX_CARD_TEXT + 4);
    expect(codeOf(() => cardFromPng(buildPng([{ kind: 'tEXt', keyword: 'chara', text: big }])))).toBe(
      'payload_too_large',
    );
    const huge = Buffer.concat([buildPng([]), pngChunk('zzZz', Buffer.alloc(CHARACTER_LIMITS.pngBytes))]);
    expect(codeOf(() => cardFromPng(huge))).toBe('payload_too_large');
  });

  it('walks many chunks in linear time', () => {
    const many = Array.from({ length: 20_000 }, () => ({ kind: 'tEXt', keyword: 'x', text: 'y' }) as const);
    const png = buildPng([...many, { kind: 'tEXt', keyword: 'chara', text: base64Json(v2) }]);
    const started = performance.now();
    expect(cardFromPng(png)).toEqual(v2);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('importCard', () => {
  it('takes V1, V2 and V3 JSON and a PNG alike', () => {
    expect(importCard({ name: 'V1', description: 'flat', first_mes: 'yo' })).toMatchObject({
      name: 'V1',
      persona: 'flat',
      greeting: 'yo',
    });
    expect(importCard(v2)).toMatchObject({ name: 'Seraphina', greeting: 'Hi {{user}}' });
    expect(importCard(v3).name).toBe('Seraphina V3');
    const png = buildPng([{ kind: 'tEXt', keyword: 'ccv3', text: base64Json(v3) }]);
    expect(importCard(png).persona).toBe('Seraphina V3 guards the forest.');
  });

  it('keeps alternate greetings and the lorebook, with {{char}} filled in and {{user}} kept', () => {
    const card = {
      ...v2,
      data: {
        ...v2.data,
        alternate_greetings: ['Again, {{user}}?', '  ', '{{char}} waves.'],
        character_book: {
          scan_depth: 3,
          token_budget: 300,
          entries: [
            { keys: [' dragon '], content: '{{char}} fears dragons.', enabled: true, insertion_order: 2 },
            { keys: [], content: 'Always: the forest is old.', constant: true, insertion_order: 1 },
            { keys: ['empty'], content: '' },
            { keys: ['off'], content: 'disabled', enabled: false, extensions: { x: 1 } },
          ],
        },
      },
    };
    const c = importCard(card);
    expect(c.alternate_greetings).toEqual(['Again, {{user}}?', 'Seraphina waves.']);
    expect(c.lorebook).toEqual({
      scan_depth: 3,
      token_budget: 300,
      entries: [
        {
          keys: ['dragon'],
          secondary_keys: [],
          content: 'Seraphina fears dragons.',
          enabled: true,
          insertion_order: 2,
          constant: false,
          selective: false,
          case_sensitive: false,
        },
        expect.objectContaining({ keys: [], constant: true, content: 'Always: the forest is old.' }),
        expect.objectContaining({ keys: ['off'], enabled: false }),
      ],
    });
  });

  it('refuses a lorebook over its limits with a 413, and a non-card with a 400', () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ keys: [`k${i}`], content: 'x'.repeat(7_000) }));
    const card = { ...v2, data: { ...v2.data, character_book: { entries } } };
    expect(codeOf(() => importCard(card))).toBe('payload_too_large');
    expect(codeOf(() => importCard({ spec: 'chara_card_v2', data: { name: 5 } }))).toBe('invalid_input');
    expect(codeOf(() => importCard([1, 2]))).toBe('invalid_input');
  });
});

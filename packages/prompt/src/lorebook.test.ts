import { describe, expect, it } from 'vitest';
import { formatLore, type LoreEntry, selectLore } from './lorebook.js';
import { expandMacros, expandMacrosIn } from './macros.js';
import { estimateContentTokens } from './tokens.js';

const entry = (over: Partial<LoreEntry>): LoreEntry => ({
  keys: [],
  secondary_keys: [],
  content: 'lore',
  enabled: true,
  insertion_order: 100,
  constant: false,
  selective: false,
  case_sensitive: false,
  ...over,
});

const dragon = entry({ keys: ['dragon'], content: 'Dragons sleep in the north.', insertion_order: 20 });
const castle = entry({ keys: ['castle', '성'], content: 'The castle has nine towers.', insertion_order: 10 });
const always = entry({ constant: true, content: 'Magic is rare.', insertion_order: 50 });
const off = entry({ keys: ['dragon'], content: 'never', enabled: false });
const opts = { scanDepth: 2, tokenBudget: 1_000 };

describe('selectLore', () => {
  it('takes constant entries and entries whose key is in the last messages, in insertion order', () => {
    const got = selectLore([dragon, castle, always, off], ['old talk', 'A DRAGON! near the castle'], opts);
    expect(got.map((e) => e.content)).toEqual([
      'The castle has nine towers.',
      'Dragons sleep in the north.',
      'Magic is rare.',
    ]);
    expect(formatLore(got)).toBe('The castle has nine towers.\nDragons sleep in the north.\nMagic is rare.');
  });

  it('looks only at the newest scanDepth messages', () => {
    const msgs = ['the dragon roars', 'hello', 'how are you'];
    expect(selectLore([dragon], msgs, { ...opts, scanDepth: 2 })).toEqual([]);
    expect(selectLore([dragon], msgs, { ...opts, scanDepth: 3 })).toEqual([dragon]);
    expect(selectLore([dragon, always], msgs, { ...opts, scanDepth: 0 })).toEqual([always]);
  });

  it('matches Korean keys, case-sensitive keys only in their case, and selective entries on both keys', () => {
    expect(selectLore([castle], ['저 성에 가자'], opts)).toEqual([castle]);
    const cs = entry({ keys: ['Rin'], case_sensitive: true });
    expect(selectLore([cs], ['rin is here'], opts)).toEqual([]);
    expect(selectLore([cs], ['Rin is here'], opts)).toEqual([cs]);
    const sel = entry({ keys: ['sword'], secondary_keys: ['broken'], selective: true });
    expect(selectLore([sel], ['a sword'], opts)).toEqual([]);
    expect(selectLore([sel], ['a broken sword'], opts)).toEqual([sel]);
  });

  it('searches only the newest MAX_SCAN_CHARS characters, in bounded time for a full book', async () => {
    const { MAX_SCAN_CHARS } = await import('./lorebook.js');
    const early = `dragon ${'x'.repeat(MAX_SCAN_CHARS)}`;
    expect(selectLore([dragon], [early], opts)).toEqual([]);
    expect(selectLore([dragon], [`${'x'.repeat(MAX_SCAN_CHARS - 10)} dragon`], opts)).toEqual([dragon]);
    // The most keys a book may have (1,024, all distinct, each of the longest kind that almost matches)
    // against 100 messages of 16,000 characters.
    const book = Array.from({ length: 32 }, (_, e) =>
      entry({ keys: Array.from({ length: 32 }, (_, i) => `${'a'.repeat(95)}${e}-${i}`) }),
    );
    const messages = Array.from({ length: 100 }, () => 'a'.repeat(16_000));
    const started = performance.now();
    expect(selectLore(book, messages, { scanDepth: 100, tokenBudget: 10_000 })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('keeps within the token budget: constant first, then by insertion order', () => {
    const cost = (e: LoreEntry) => estimateContentTokens(e.content) + 1;
    const budget = cost(always) + cost(castle);
    const got = selectLore([dragon, castle, always], ['dragon castle'], {
      scanDepth: 1,
      tokenBudget: budget,
    });
    expect(got).toEqual([castle, always]);
    expect(selectLore([dragon, castle, always], ['dragon castle'], { scanDepth: 1, tokenBudget: 0 })).toEqual(
      [],
    );
  });
});

describe('expandMacros', () => {
  it('puts in the names for {{char}}, {{user}} and the old <BOT>/<USER>, any case', () => {
    expect(
      expandMacros('{{char}} greets {{ User }}; <BOT> and <user>.', { char: '미나', user: 'jisoo' }),
    ).toBe('미나 greets jisoo; 미나 and jisoo.');
  });

  it('keeps a macro whose name is unknown, and names with $ signs as written', () => {
    expect(expandMacros('{{user}} meets {{char}}', { char: '$&$1', user: null })).toBe('{{user}} meets $&$1');
  });

  it('expands every message of a prompt', () => {
    expect(
      expandMacrosIn(
        [
          { role: 'system', content: 'You are {{char}}.' },
          { role: 'user', content: 'I am {{user}}' },
        ],
        { char: 'Rin', user: 'Bo' },
      ),
    ).toEqual([
      { role: 'system', content: 'You are Rin.' },
      { role: 'user', content: 'I am Bo' },
    ]);
  });

  it('runs in linear time on hostile input', () => {
    const evil = `${'{{ '.repeat(50_000)}${' '.repeat(50_000)}<`.repeat(4);
    const started = performance.now();
    expandMacros(evil, { char: 'a', user: 'b' });
    expect(performance.now() - started).toBeLessThan(200);
  });
});

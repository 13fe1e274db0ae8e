import { describe, expect, it } from 'vitest';
import { cleanText, prepareText, splitSentences } from './text.js';

describe('cleanText', () => {
  it('drops stage directions, markdown and emoji but keeps Hangul', () => {
    const raw = '*웃으며* **안녕하세요**! 오늘 _정말_ 반가워요 😊👍🏽\n\n> 인용문\n- 첫째\n1. 둘째';
    expect(cleanText(raw, true)).toBe('안녕하세요! 오늘 정말 반가워요\n인용문\n첫째\n둘째');
  });

  it('keeps the words of asterisk spans when stage directions are spoken', () => {
    expect(cleanText('*smiles* Hello there.', false)).toBe('smiles Hello there.');
    expect(cleanText('*smiles* Hello there.', true)).toBe('Hello there.');
  });

  it('reads link text, not URLs, and skips code blocks and markup', () => {
    const raw =
      '# Title\nSee [the docs](https://x.y/z) or https://a.b/c.\n```js\nconst a = 1;\n```\n<b>Bye</b> `now`';
    expect(cleanText(raw, true)).toBe('Title\nSee the docs or.\nBye now');
  });

  it('removes flags, skin tones, keycaps and joiners of emoji sequences', () => {
    expect(cleanText('좋아 👨‍👩‍👧 🇰🇷 ❤️ 끝', true)).toBe('좋아 끝');
  });

  it('keeps other scripts and numbers', () => {
    expect(cleanText('こんにちは 3.14 Привет ㅋㅋㅋ', true)).toBe('こんにちは 3.14 Привет ㅋㅋㅋ');
  });
});

describe('splitSentences', () => {
  it('splits Korean and English sentences on their punctuation', () => {
    expect(splitSentences('안녕하세요! Nice to meet you. 오늘 기분은 어때요? 좋아요… 그래요.')).toEqual([
      '안녕하세요!',
      'Nice to meet you.',
      '오늘 기분은 어때요?',
      '좋아요…',
      '그래요.',
    ]);
  });

  it('treats lines as boundaries, keeps decimals, and joins word-less pieces to the previous one', () => {
    expect(splitSentences('첫 줄\n둘째 줄은 3.5점. ...\n"Really?" she asked.')).toEqual([
      '첫 줄',
      '둘째 줄은 3.5점....',
      '"Really?"',
      'she asked.',
    ]);
  });

  it('cuts a long sentence at a comma or space', () => {
    const long = `${'가나다라 '.repeat(30)}, ${'마바사 '.repeat(30)}`;
    const parts = splitSentences(long, 200);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(200);
    expect(parts.join(' ').replace(/\s+/g, '')).toBe(long.replace(/\s+/g, ''));
  });
});

describe('prepareText', () => {
  it('fails with a reason past the length limit (counted after cleaning)', () => {
    const r = prepareText(`${'가'.repeat(2001)}`, { stripActions: true, maxChars: 2000 });
    expect(r).toMatchObject({ ok: false, code: 'tts_text_too_long' });
    if (!r.ok) expect(r.reason).toMatch(/2001 characters.*2000.*TTS_MAX_CHARS/);
    expect(prepareText(`${'가'.repeat(2000)} 😊😊😊`, { stripActions: true, maxChars: 2000 }).ok).toBe(true);
  });

  it('reports nothing to speak for a reply of only actions and emoji', () => {
    expect(prepareText('*고개를 끄덕인다* 😊', { stripActions: true, maxChars: 100 })).toMatchObject({
      ok: false,
      code: 'nothing_to_speak',
    });
  });

  it('returns the cleaned text and its sentences', () => {
    expect(prepareText('*웃음* 네, 알겠어요. 내일 봐요!', { stripActions: true, maxChars: 100 })).toEqual({
      ok: true,
      text: '네, 알겠어요. 내일 봐요!',
      sentences: ['네, 알겠어요.', '내일 봐요!'],
    });
  });
});

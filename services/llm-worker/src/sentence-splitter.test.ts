import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SentenceSplitter } from './sentence-splitter.js';

/** Feeds the pieces one by one; records after which piece each chunk came out. */
function stream(pieces: string[], stripActions = true) {
  const s = new SentenceSplitter({ stripActions });
  const chunks: { text: string; at: number }[] = [];
  for (const [i, p] of pieces.entries()) for (const text of s.push(p)) chunks.push({ text, at: i });
  for (const text of s.end()) chunks.push({ text, at: pieces.length });
  return chunks;
}
const split = (text: string, stripActions = true) => stream([text], stripActions).map((c) => c.text);

describe('sentence splitter', () => {
  it('cuts English, Korean and Japanese at sentence ends', () => {
    expect(split('I am here for you. Tell me more about it! What happened next?')).toEqual([
      'I am here for you.',
      'Tell me more about it!',
      'What happened next?',
    ]);
    expect(split('오늘 기분은 어때요? 좋은 하루 보내세요. 천천히 말해도 괜찮아요.')).toEqual([
      '오늘 기분은 어때요?',
      '좋은 하루 보내세요.',
      '천천히 말해도 괜찮아요.',
    ]);
    expect(split('こんにちは、元気ですか？今日はいい天気ですね。散歩に行きましょう。')).toEqual([
      'こんにちは、元気ですか？',
      '今日はいい天気ですね。',
      '散歩に行きましょう。',
    ]);
  });

  it('never splits inside 3.5, an ellipsis or an abbreviation', () => {
    expect(
      split(
        'It costs 3.5 dollars today. Mr. Smith and Dr. Lee agree, e.g. on price. J. K. Rowling wrote it.',
      ),
    ).toEqual([
      'It costs 3.5 dollars today.',
      'Mr. Smith and Dr. Lee agree, e.g. on price.',
      'J. K. Rowling wrote it.',
    ]);
    expect(split('Well... I am not sure about that. 음… 그렇군요, 알겠어요.')).toEqual([
      'Well... I am not sure about that.',
      '음… 그렇군요, 알겠어요.',
    ]);
  });

  it('merges very short sentences with the next one', () => {
    expect(split('Oh! Yes. I really think so. 네. 정말 재미있네요.')).toEqual([
      'Oh! Yes. I really think so.',
      '네. 정말 재미있네요.',
    ]);
    // A short sentence at the very end is still spoken.
    expect(split('That is a lovely idea. Ok.')).toEqual(['That is a lovely idea.', 'Ok.']);
  });

  it('strips *actions* when asked, and never cuts inside one', () => {
    expect(split('*smiles softly. waves.* Hello there, friend. *nods* 좋아요, 가요.')).toEqual([
      'Hello there, friend.',
      '좋아요, 가요.',
    ]);
    expect(split('*smiles* Hello there, friend.', false)).toEqual(['*smiles* Hello there, friend.']);
    expect(split('*waves*')).toEqual([]);
  });

  it('holds the last sentence back until more text arrives or the reply ends', () => {
    const pieces = [
      '안녕하세요',
      '!',
      ' Nice',
      ' to',
      ' meet',
      ' you',
      '.',
      ' 좋은',
      ' 하루',
      ' 보내세요',
      '.',
    ];
    expect(stream(pieces)).toEqual([
      // "안녕하세요!" is complete once " Nice" starts the next sentence.
      { text: '안녕하세요!', at: 2 },
      { text: 'Nice to meet you.', at: 7 },
      { text: '좋은 하루 보내세요.', at: pieces.length },
    ]);
  });

  it('cuts a long run without a sentence end at a comma, before it ends', () => {
    const clause = 'and then we walked along the river for a while, ';
    const pieces = Array.from({ length: 12 }, () => clause);
    const chunks = stream(pieces);
    expect(chunks[0]!.at).toBeLessThan(pieces.length);
    expect(chunks.every((c) => c.text.length <= 240)).toBe(true);
    expect(chunks.map((c) => c.text).join(' ')).toBe(pieces.join('').trim());
  });

  it('gives the same chunks however the text is cut into tokens', () => {
    const sentence = fc.constantFrom(
      'I am here for you.',
      ' 오늘 기분은 어때요?',
      ' 今日はいい天気ですね。',
      ' It costs 3.5 dollars.',
      ' Mr. Smith agrees!',
      ' Well... maybe.',
      ' *smiles* 네.',
      ' Oh!',
      '\n\nTell me more about it.',
      ' 음… 그렇군요',
    );
    fc.assert(
      fc.property(
        fc.array(sentence, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (parts, cuts) => {
          const text = parts.join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const pieces = [0, ...points, text.length]
            .slice(1)
            .map((end, i, all) => text.slice(i === 0 ? 0 : all[i - 1], end));
          expect(stream(pieces).map((c) => c.text)).toEqual(split(text));
        },
      ),
      { numRuns: 300 },
    );
  });
});

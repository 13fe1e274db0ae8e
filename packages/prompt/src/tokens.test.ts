import { describe, expect, it } from 'vitest';
import type { ChatMessage } from './messages.js';
import { estimateTokens } from './tokens.js';

/** The backend simulator's tokenizer, re-implemented: per message 4 + non-ASCII 1 + ASCII runs /4, + 3. */
function simTokens(messages: ChatMessage[]): number {
  let total = 3;
  for (const m of messages) {
    total += 4;
    for (const ch of m.content) if (ch.codePointAt(0)! > 0x7f) total += 1;
    for (const run of m.content.match(/[\x21-\x7e]+/g) ?? []) total += Math.ceil(run.length / 4);
  }
  return total;
}

/** The brief's formula: per message 6 + non-ASCII 1 + ceil(ASCII chars / 2.5), + 4. */
function briefFormula(messages: ChatMessage[]): number {
  let total = 4;
  for (const m of messages) {
    let ascii = 0;
    let nonAscii = 0;
    for (const ch of m.content) {
      if (ch.codePointAt(0)! > 0x7f) nonAscii += 1;
      else ascii += 1;
    }
    total += 6 + nonAscii + Math.ceil(ascii / 2.5);
  }
  return total;
}

const TEXTS = [
  '',
  'a',
  'Hello, how are you doing today? I was thinking we could go to the park.',
  'The quick brown fox jumps over the lazy dog. '.repeat(20),
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  '안녕하세요. 저는 민지예요, 반가워요!',
  '오늘 날씨가 정말 좋네요. 산책이라도 갈까요? '.repeat(15),
  '가.나.다.라.마.바.사.아.자.차.카.타.파.하.'.repeat(10),
  '1시 2분 3초, 4월 5일 6번 7호',
  '전화번호는 010-1234-5678이고 우편번호는 04524입니다.',
  'Gemma 3 모델을 vLLM으로 서빙하면 OpenAI 호환 API를 쓸 수 있어요 :)',
  '"진짜?" 그녀가 물었다. "Really?" she asked. (웃음) ㅋㅋㅋ ^^;',
  '🙂🎉 이모지도 섞어서 😀 test 🚀',
  'x y z '.repeat(50),
  '\n\n\t  spaces   and\nnewlines\n',
  '日本語のテキストも少し混ぜます。中文也可以。',
  '{"json": [1, 2, 3], "key": "value"} <tag attr="1"/>',
  '3.14159265358979323846264338327950288419716939937510',
];

describe('estimateTokens', () => {
  it('is >= the simulator tokenizer and the brief formula on varied texts', () => {
    for (const text of TEXTS) {
      for (const role of ['system', 'user', 'assistant'] as const) {
        const messages = [{ role, content: text }];
        expect(estimateTokens(messages), text).toBeGreaterThanOrEqual(simTokens(messages));
        expect(estimateTokens(messages), text).toBeGreaterThanOrEqual(briefFormula(messages));
      }
    }
    const conversation: ChatMessage[] = TEXTS.map((content, i) => ({
      role: i % 2 === 0 ? 'user' : 'assistant',
      content,
    }));
    expect(estimateTokens(conversation)).toBeGreaterThanOrEqual(simTokens(conversation));
    expect(estimateTokens(conversation)).toBeGreaterThanOrEqual(briefFormula(conversation));
  });

  it('is >= the simulator on random mixed strings', () => {
    const alphabet = ['a', 'B', 'z', '1', '9', ' ', '.', ',', '\n', '가', '힣', 'ㅋ', '日', '😀', '-', '?'];
    let seed = 42;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 500; i += 1) {
      const len = Math.floor(rand() * 200);
      let content = '';
      for (let j = 0; j < len; j += 1) content += alphabet[Math.floor(rand() * alphabet.length)];
      const messages: ChatMessage[] = [{ role: 'user', content }];
      expect(estimateTokens(messages), content).toBeGreaterThanOrEqual(simTokens(messages));
      expect(estimateTokens(messages), content).toBeGreaterThanOrEqual(briefFormula(messages));
    }
  });

  it('is >= chars / 4 for English', () => {
    for (const text of TEXTS.slice(0, 5)) {
      expect(estimateTokens([{ role: 'user', content: text }])).toBeGreaterThanOrEqual(
        Math.ceil(text.length / 4),
      );
    }
  });

  it('counts Korean syllables as one token each plus overhead', () => {
    expect(estimateTokens([{ role: 'user', content: '안녕하세요' }])).toBe(4 + 6 + 5);
    expect(estimateTokens([])).toBe(4);
  });

  it('counts each digit (Gemma splits digits)', () => {
    expect(estimateTokens([{ role: 'user', content: '1234567890' }])).toBe(4 + 6 + 10);
  });
});

import { isGatewayError } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { fitToContext, type TokenCounter } from './fit.js';
import { type ChatMessage, NEUTRAL_OPENING } from './messages.js';
import { estimateTokens } from './tokens.js';

const u = (content: string): ChatMessage => ({ role: 'user', content });
const a = (content: string): ChatMessage => ({ role: 'assistant', content });
const s = (content: string): ChatMessage => ({ role: 'system', content });

/** Exact fake: 10 per message + 1 per character, + 2. */
const exactTokens = (messages: ChatMessage[]): number =>
  2 + messages.reduce((sum, m) => sum + 10 + m.content.length, 0);

function counter(): TokenCounter & { calls: number } {
  const fn = Object.assign(
    async (messages: ChatMessage[]) => {
      fn.calls += 1;
      return exactTokens(messages);
    },
    { calls: 0 },
  );
  return fn;
}

/** system + `pairs` user/assistant pairs of 90 chars each (100 tokens each message) + newest user. */
function conversation(pairs: number): ChatMessage[] {
  const out: ChatMessage[] = [s('S'.repeat(40))];
  for (let i = 0; i < pairs; i += 1) {
    out.push(
      u(`u${String(i).padStart(3, '0')}`.padEnd(90, '.')),
      a(`a${String(i).padStart(3, '0')}`.padEnd(90, '.')),
    );
  }
  out.push(u('newest'.padEnd(90, '!')));
  return out;
}

function assertGemma(messages: ChatMessage[]): void {
  expect(messages.filter((m) => m.role === 'system').length).toBeLessThanOrEqual(1);
  const turns = messages.filter((m) => m.role !== 'system');
  turns.forEach((m, i) => {
    expect(m.role).toBe(i % 2 === 0 ? 'user' : 'assistant');
  });
}

async function catchError(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('fitToContext with an exact counter', () => {
  // 10 pairs: 2 + 50 (system) + 20 * 100 + 100 (newest) = 2152 tokens.
  it('keeps everything when it fits, with one counter call', async () => {
    const count = counter();
    const msgs = conversation(10);
    const r = await fitToContext(msgs, { maxContextTokens: 4096, maxTokens: 512, count });
    expect(r).toEqual({
      messages: msgs,
      promptTokens: 2152,
      exact: true,
      droppedPairs: 0,
      droppedMessages: 0,
    });
    expect(count.calls).toBe(1);
  });

  it('drops the oldest pairs, just enough', async () => {
    const count = counter();
    // Budget 1700 - 200 = 1500: 2152 - 200k <= 1500 -> k = 4 (1352).
    const r = await fitToContext(conversation(10), { maxContextTokens: 1700, maxTokens: 200, count });
    expect(r.droppedPairs).toBe(4);
    expect(r.promptTokens).toBe(1352);
    expect(r.promptTokens).toBe(exactTokens(r.messages));
    expect(r.exact).toBe(true);
    expect(r.messages[0]).toEqual(s('S'.repeat(40)));
    expect(r.messages[1]?.content.startsWith('u004')).toBe(true);
    expect(r.messages[r.messages.length - 1]?.content.startsWith('newest')).toBe(true);
    assertGemma(r.messages);
  });

  it('finds the exact boundary for every budget (fewest pairs dropped)', async () => {
    const msgs = conversation(12);
    for (let ctx = 152 + 50; ctx <= 2800; ctx += 37) {
      const count = counter();
      const r = await fitToContext(msgs, { maxContextTokens: ctx, maxTokens: 50, count });
      expect(r.promptTokens + 50).toBeLessThanOrEqual(ctx);
      if (r.droppedPairs > 0) expect(r.promptTokens + 200 + 50).toBeGreaterThan(ctx);
      assertGemma(r.messages);
    }
  });

  it('calls the counter a bounded number of times', async () => {
    for (const pairs of [0, 1, 2, 3, 7, 8, 31, 100, 500]) {
      const msgs = conversation(pairs);
      const total = exactTokens(msgs);
      for (const ctx of [total + 100, total, Math.floor(total / 2), 260, 253, 252]) {
        for (const extraDropPairs of [0, 1]) {
          const count = counter();
          try {
            await fitToContext(msgs, { maxContextTokens: ctx, maxTokens: 100, count, extraDropPairs });
          } catch (err) {
            expect(isGatewayError(err)).toBe(true);
          }
          expect(count.calls).toBeLessThanOrEqual(Math.ceil(Math.log2(pairs + 1)) + 2);
        }
      }
    }
  });

  it('extraDropPairs drops that many more pairs', async () => {
    const count = counter();
    const r = await fitToContext(conversation(10), {
      maxContextTokens: 1700,
      maxTokens: 200,
      count,
      extraDropPairs: 2,
    });
    expect(r.droppedPairs).toBe(6);
    expect(r.promptTokens).toBe(952);
    expect(r.messages[1]?.content.startsWith('u006')).toBe(true);
    assertGemma(r.messages);
  });

  it('extraDropPairs applies even when everything fits, capped at the history', async () => {
    const r1 = await fitToContext(conversation(3), {
      maxContextTokens: 8192,
      maxTokens: 10,
      extraDropPairs: 1,
    });
    expect(r1.droppedPairs).toBe(1);
    const r2 = await fitToContext(conversation(3), {
      maxContextTokens: 8192,
      maxTokens: 10,
      count: counter(),
      extraDropPairs: 99,
    });
    expect(r2.droppedPairs).toBe(3);
    expect(r2.messages.map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('throws context_too_long with the numbers when system + newest user do not fit', async () => {
    const err = await catchError(
      fitToContext(conversation(5), { maxContextTokens: 300, maxTokens: 200, count: counter() }),
    );
    expect(isGatewayError(err)).toBe(true);
    if (!isGatewayError(err)) return;
    expect(err.code).toBe('context_too_long');
    expect(err.status).toBe(422);
    expect(err.details).toEqual({ prompt_tokens: 152, max_tokens: 200, max_context_tokens: 300 });
    expect(err.message).toContain('152');
    expect(err.message).toContain('200');
    expect(err.message).toContain('300');
  });

  it('treats the synthetic opening + greeting as a pair', async () => {
    const msgs = [s('S'), a('greeting'.padEnd(90, '.')), u('hi'.padEnd(90)), a('yo'.padEnd(90)), u('last')];
    const count = counter();
    const full = await fitToContext(msgs, { maxContextTokens: 10_000, maxTokens: 10, count });
    expect(full.messages[1]).toEqual(u(NEUTRAL_OPENING));
    const budget = exactTokens(full.messages) - 1;
    const r = await fitToContext(msgs, { maxContextTokens: budget + 10, maxTokens: 10, count });
    expect(r.droppedPairs).toBe(1);
    expect(r.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(r.messages[1]?.content.startsWith('hi')).toBe(true);
  });

  it('normalizes non-Gemma input first and keeps a trailing assistant prefill', async () => {
    const msgs = [u('old1'), u('old2'), s('S1'), a('r1'), u('q'), s('S2'), a('prefill')];
    const r = await fitToContext(msgs, { maxContextTokens: 10_000, maxTokens: 10, count: counter() });
    expect(r.messages).toEqual([s('S1\n\nS2'), u('old1\n\nold2'), a('r1'), u('q'), a('prefill')]);
    const trimmed = await fitToContext(msgs, {
      maxContextTokens: 10_000,
      maxTokens: 10,
      count: counter(),
      extraDropPairs: 5,
    });
    expect(trimmed.messages).toEqual([s('S1\n\nS2'), u('q'), a('prefill')]);
  });

  it('falls back to the estimate when the counter returns null or throws', async () => {
    for (const count of [
      async () => null,
      async () => Promise.reject(new Error('tokenize down')),
    ] as TokenCounter[]) {
      const msgs = conversation(4);
      const r = await fitToContext(msgs, { maxContextTokens: 8192, maxTokens: 100, count });
      expect(r.exact).toBe(false);
      expect(r.promptTokens).toBe(estimateTokens(msgs));
    }
  });

  it('falls back to the estimate when the counter gives up midway', async () => {
    let calls = 0;
    const flaky: TokenCounter = async (m) => (++calls === 1 ? exactTokens(m) : null);
    const msgs = conversation(10);
    const r = await fitToContext(msgs, { maxContextTokens: 1700, maxTokens: 200, count: flaky });
    expect(r.exact).toBe(false);
    expect(r.promptTokens).toBe(estimateTokens(r.messages));
    expect(r.promptTokens + 200).toBeLessThanOrEqual(1700);
  });
});

describe('fitToContext with the estimate only', () => {
  it('fits by estimate and reports exact=false', async () => {
    const msgs = conversation(20);
    const total = estimateTokens(msgs);
    const r = await fitToContext(msgs, { maxContextTokens: Math.floor(total / 2), maxTokens: 256 });
    expect(r.exact).toBe(false);
    expect(r.droppedPairs).toBeGreaterThan(0);
    expect(r.promptTokens).toBe(estimateTokens(r.messages));
    expect(r.promptTokens + 256).toBeLessThanOrEqual(Math.floor(total / 2));
    // One pair fewer dropped would not fit.
    const oneMore = [
      r.messages[0]!,
      ...msgs.slice(1 + 2 * (r.droppedPairs - 1), 3 + 2 * (r.droppedPairs - 1)),
    ];
    expect(estimateTokens([...oneMore, ...r.messages.slice(1)]) + 256).toBeGreaterThan(Math.floor(total / 2));
    assertGemma(r.messages);
  });

  it('works without a system message and with Korean text', async () => {
    const msgs: ChatMessage[] = [];
    for (let i = 0; i < 30; i += 1)
      msgs.push(u(`${i}번째 질문이에요. 오늘 뭐 해요?`), a(`${i}번째 대답: 집에서 쉬어요.`));
    msgs.push(u('마지막 질문!'));
    const r = await fitToContext(msgs, { maxContextTokens: 400, maxTokens: 100 });
    expect(r.messages[0]?.role).toBe('user');
    expect(r.messages[r.messages.length - 1]).toEqual(u('마지막 질문!'));
    expect(r.promptTokens + 100).toBeLessThanOrEqual(400);
    assertGemma(r.messages);
  });

  it('throws context_too_long by estimate', async () => {
    const err = await catchError(
      fitToContext([s('긴 시스템 프롬프트 '.repeat(100)), u('안녕')], {
        maxContextTokens: 512,
        maxTokens: 256,
      }),
    );
    expect(isGatewayError(err) && err.code).toBe('context_too_long');
  });
});

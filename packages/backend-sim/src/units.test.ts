import { describe, expect, it } from 'vitest';
import { Slots } from './capacity.js';
import { drawFault, makeRng, NO_FAULTS } from './faults.js';
import { simReply } from './reply.js';
import { HELLO } from './test-helpers.js';
import { countSimTokens, countTextTokens } from './tokenizer.js';

describe('tokenizer', () => {
  it('counts non-ASCII code points, ASCII runs by 4, whitespace free', () => {
    expect(countTextTokens('')).toBe(0);
    expect(countTextTokens('   \n\t')).toBe(0);
    expect(countTextTokens('abcd')).toBe(1);
    expect(countTextTokens('abcde')).toBe(2);
    expect(countTextTokens('hi there')).toBe(3);
    expect(countTextTokens('안녕')).toBe(2);
    expect(countTextTokens('안녕!')).toBe(3); // '!' is its own ASCII run
    expect(countTextTokens('ab안cd')).toBe(3);
    expect(countTextTokens('😀')).toBe(1); // one code point, two UTF-16 units
  });

  it('adds 4 per message and 3 for <bos> and the generation prompt', () => {
    expect(countSimTokens([])).toBe(3);
    expect(countSimTokens([{ role: 'user', content: 'Hello' }])).toBe(3 + 4 + 2);
    // system: 너는(2) 친절한(3) 대화(2) 상대야.(4) 짧게(2) 답해.(3) = 16; user: 안녕!(3) 만나서(3) 반가워.(4) = 10
    expect(countSimTokens(HELLO)).toBe(3 + 4 + 16 + 4 + 10);
  });
});

describe('simReply', () => {
  it('is deterministic, prompt dependent and multi-byte', () => {
    const a = simReply(HELLO, 512);
    expect(a).toEqual(simReply(HELLO, 512));
    expect(a.pieces).toHaveLength(24);
    expect(a.finishReason).toBe('stop');
    expect(Buffer.byteLength(a.pieces[0]!)).toBeGreaterThan(a.pieces[0]!.length);
    const texts = new Set(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((c) =>
        simReply([{ role: 'user', content: c }], 100).pieces.join(''),
      ),
    );
    expect(texts.size).toBeGreaterThan(1);
    expect(a.pieces.join('')).not.toMatch(/\p{Extended_Pictographic}/u);
  });

  it('cuts at maxTokens with finish reason length', () => {
    const r = simReply(HELLO, 5);
    expect(r.pieces).toEqual(simReply(HELLO, 512).pieces.slice(0, 5));
    expect(r.finishReason).toBe('length');
    expect(simReply(HELLO, 10, 10).finishReason).toBe('stop');
    expect(simReply(HELLO, 100, 3).pieces).toHaveLength(3);
  });

  it('writes role-play length sentences (11-14 tokens) in the roleplay style', () => {
    const r = simReply(HELLO, 400, 400, 'roleplay');
    expect(r).toEqual(simReply(HELLO, 400, 400, 'roleplay'));
    const lengths: number[] = [];
    let n = 0;
    for (const p of r.pieces) {
      n++;
      if (/[.!?]$/.test(p)) {
        lengths.push(n);
        n = 0;
      }
    }
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(11);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(14);
    // The chat style stays as it was.
    expect(simReply(HELLO, 400, 400, 'chat')).toEqual(simReply(HELLO, 400, 400));
  });
});

describe('Slots', () => {
  it('grants up to capacity, then FIFO, and rejects beyond maxQueue', () => {
    const slots = new Slots(2, 2);
    const order: number[] = [];
    const t = [1, 2, 3, 4].map((n) => slots.acquire(() => order.push(n)));
    expect(slots.acquire(() => order.push(5))).toBeUndefined();
    expect(order).toEqual([1, 2]);
    expect(slots.waiting).toBe(2);
    t[2]!.release(); // a waiter leaves
    t[0]!.release();
    expect(order).toEqual([1, 2, 4]);
    t[0]!.release(); // idempotent
    expect(slots.generating).toBe(2);
    expect(slots.maxGenerating).toBe(2);
  });

  it('counts a request of n sequences as n, as vLLM --max-num-seqs does, first come first served', () => {
    const slots = new Slots(3, 10);
    const order: string[] = [];
    const one = slots.acquire(() => order.push('one'))!;
    const pair = slots.acquire(() => order.push('pair'), 2)!;
    const wide = slots.acquire(() => order.push('wide'), 2)!;
    const late = slots.acquire(() => order.push('late'))!;
    // 1 + 2 fill the 3 slots; the wide request waits, and the one behind it does not pass it.
    expect(order).toEqual(['one', 'pair']);
    expect(slots.generating).toBe(3);
    one.release();
    expect(order).toEqual(['one', 'pair']);
    pair.release();
    expect(order).toEqual(['one', 'pair', 'wide', 'late']);
    expect(slots.generating).toBe(3);
    wide.release();
    late.release();
    // Wider than the whole server: it runs alone rather than never.
    slots.acquire(() => order.push('huge'), 5);
    expect(order.at(-1)).toBe('huge');
  });

  it('hands over without deep recursion when grants finish synchronously', () => {
    const slots = new Slots(1, Number.POSITIVE_INFINITY);
    const blocker = slots.acquire(() => {})!;
    let done = 0;
    for (let i = 0; i < 50_000; i++) {
      const box: { t?: { release(): void } } = {};
      box.t = slots.acquire(() => {
        done++;
        box.t?.release();
      });
    }
    blocker.release();
    expect(done).toBe(50_000); // every waiter ran
    expect(slots.generating).toBe(0);
  });
});

describe('faults', () => {
  it('draws nothing without rates and is reproducible with a seed', () => {
    expect(drawFault(NO_FAULTS, makeRng(1))).toBeUndefined();
    const f = { ...NO_FAULTS, errorRate: 0.3, dropRate: 0.3 };
    const seq = (seed: number) => {
      const rng = makeRng(seed);
      return Array.from({ length: 50 }, () => drawFault(f, rng));
    };
    expect(seq(7)).toEqual(seq(7));
    expect(new Set(seq(7))).toEqual(new Set(['error', 'drop', undefined]));
    expect(drawFault({ ...NO_FAULTS, stallRate: 1 }, makeRng(3))).toBe('stall');
  });
});

// The simulator's tokenizer: a cheap, deterministic stand-in for Gemma's. It is deliberately
// simple so the gateway's estimator can be checked against it exactly:
//   per message 4 tokens of template overhead, plus 3 for <bos> and the generation prompt;
//   every non-ASCII code point is 1 token; each run of ASCII non-space characters costs
//   ceil(len / 4); ASCII whitespace is free.

import type { SimMessage } from './types.js';

const MESSAGE_OVERHEAD = 4;
const PROMPT_OVERHEAD = 3;

/** Tokens of a plain text under the sim's rules (no template overhead). */
export function countTextTokens(text: string): number {
  let tokens = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0x0b || c === 0x0c) {
        if (run > 0) tokens += Math.ceil(run / 4);
        run = 0;
      } else {
        run++;
      }
      continue;
    }
    if (run > 0) tokens += Math.ceil(run / 4);
    run = 0;
    tokens++;
    // A surrogate pair is one code point, so one token.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  if (run > 0) tokens += Math.ceil(run / 4);
  return tokens;
}

/** Prompt tokens of a chat with the (simulated) Gemma template applied. */
export function countSimTokens(messages: readonly SimMessage[]): number {
  let tokens = PROMPT_OVERHEAD;
  for (const m of messages) tokens += MESSAGE_OVERHEAD + countTextTokens(m.content);
  return tokens;
}

/**
 * Fake token ids for /tokenize: `count` ints starting with <bos> (2). Only the length is
 * meaningful; the ids are stable so repeated calls give equal bodies.
 */
export function fakeTokenIds(count: number): number[] {
  const ids = new Array<number>(count);
  for (let i = 0; i < count; i++) ids[i] = i === 0 ? 2 : 1000 + ((i * 7919) % 250_000);
  return ids;
}

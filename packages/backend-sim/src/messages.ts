// Turning wire messages into SimMessages, shared by both protocols: both accept OpenAI-style
// content parts, and both feed the same tokenizer and reply generator.

import { isObject } from './http.js';
import type { SimMessage } from './types.js';

/** Text of a message content: a string, text parts joined with '\n' (as vLLM does), or ''. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) {
    if (isObject(part) && typeof part['text'] === 'string') texts.push(part['text']);
  }
  return texts.join('\n');
}

/** undefined when any item is not an object with a string role. */
export function toSimMessages(raw: unknown[]): SimMessage[] | undefined {
  const out: SimMessage[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    if (!isObject(m) || typeof m['role'] !== 'string') return undefined;
    out[i] = { role: m['role'], content: contentText(m['content']) };
  }
  return out;
}

/**
 * Gemma 3's template rule as PROTOCOLS.md states it: one optional system message first, then
 * user/assistant strictly alternating, starting with user.
 */
export function alternates(messages: readonly SimMessage[]): boolean {
  const start = messages[0]?.role === 'system' ? 1 : 0;
  for (let i = start; i < messages.length; i++) {
    const want = (i - start) % 2 === 0 ? 'user' : 'assistant';
    if (messages[i]!.role !== want) return false;
  }
  return true;
}

import type { ChatMessage } from './messages.js';

/** Per-message overhead: `<start_of_turn>`, role, `\n`, `<end_of_turn>`, `\n` (5 in Gemma) with margin. */
const MESSAGE_OVERHEAD = 6;
/** Per-prompt overhead: `<bos>` and the generation prompt `<start_of_turn>model\n` (4 in Gemma). */
const PROMPT_OVERHEAD = 4;

const isDigit = (code: number): boolean => code >= 0x30 && code <= 0x39;
const isAsciiSpace = (code: number): boolean => code === 0x20 || (code >= 0x09 && code <= 0x0d);

/**
 * Conservative token count of one message's content:
 * the larger of (a) each non-ASCII code point 1 + all ASCII characters / 2.5, rounded up, and
 * (b) each non-ASCII code point 1 + per ASCII non-space run: each digit 1 (Gemma splits digits)
 * + the other characters / 4, rounded up. (b) covers texts full of short ASCII runs between
 * Hangul ("1시 2분", "가.나.") and long numbers, where (a) alone can undercount.
 */
export function estimateContentTokens(text: string): number {
  let nonAscii = 0;
  let ascii = 0;
  let runs = 0;
  let runDigits = 0;
  let runOther = 0;
  const closeRun = (): void => {
    runs += runDigits + Math.ceil(runOther / 4);
    runDigits = 0;
    runOther = 0;
  };
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x7f) {
      nonAscii += 1;
      closeRun();
    } else {
      ascii += 1;
      if (isAsciiSpace(code)) closeRun();
      else if (isDigit(code)) runDigits += 1;
      else runOther += 1;
    }
  }
  closeRun();
  return nonAscii + Math.max(Math.ceil(ascii / 2.5), runs);
}

export function estimateMessageTokens(message: ChatMessage): number {
  return MESSAGE_OVERHEAD + estimateContentTokens(message.content);
}

/**
 * A conservative prompt-token estimate for Gemma 3 (meant to be >= the real tokenizer's count
 * and >= the backend simulator's): per message 6 + content, plus 4 for the prompt.
 */
export function estimateTokens(messages: ChatMessage[]): number {
  let total = PROMPT_OVERHEAD;
  for (const m of messages) total += estimateMessageTokens(m);
  return total;
}

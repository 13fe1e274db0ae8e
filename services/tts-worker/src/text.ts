/** Turns a chat reply into what should be spoken, and cuts it into sentences for early first audio. */

export interface TextPrepOptions {
  /** Remove role-play stage directions in single asterisks, such as `*smiles*`. */
  stripActions: boolean;
  /** Longest text (in characters, after cleaning) that is spoken at all. */
  maxChars: number;
  /** Longer sentences are cut at a comma or a space so no chunk is slow to come. */
  maxSentenceChars?: number;
}

export type PreparedText =
  | { ok: true; text: string; sentences: string[] }
  | { ok: false; code: 'tts_text_too_long' | 'nothing_to_speak'; reason: string };

// Pictographs plus the parts of emoji sequences: skin tones, flag letters, tags, selectors, joiners, keycaps.
const EMOJI =
  /\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|[\u{E0020}-\u{E007F}]|\uFE0E|\uFE0F|\u200D|\u20E3/gu;

/** Removes markdown, markup, links, emoji and (when asked) stage directions; keeps every script's text. */
export function cleanText(raw: string, stripActions: boolean): string {
  let t = raw.replace(/\r\n?/g, '\n');
  t = t.replace(/```[^\n]*\n[\s\S]*?(```|$)/g, '\n'); // code is not read aloud
  t = t.replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1');
  t = t.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1');
  t = t.replace(/<\/?[A-Za-z][^>]*>/g, ' ');
  t = t.replace(/\bhttps?:\/\/\S*[^\s.,!?;:)\]'"]/g, ' ');
  t = t.replace(/^\s*([-*_])(\s*\1){2,}\s*$/gm, '\n'); // horizontal rules
  t = t.replace(/^[ \t]{0,3}#{1,6}[ \t]+/gm, '');
  t = t.replace(/^[ \t]*>[ \t]?/gm, '');
  t = t.replace(/^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+/gm, '');
  t = t.replace(/(\*\*|__)(?=\S)([^\n]*?\S)\1/g, '$2'); // bold is emphasis: keep the words
  t = t.replace(/~~([^~\n]+)~~/g, '$1');
  // What is left in single asterisks is a stage direction in role-play (`*웃으며*`), or italics.
  t = t.replace(/\*([^*\n]+)\*/g, stripActions ? ' ' : '$1');
  t = t.replace(/(^|[^\p{L}\p{N}])_([^_\n]+)_(?=[^\p{L}\p{N}]|$)/gmu, '$1$2');
  t = t.replace(/`([^`\n]*)`/g, '$1');
  t = t.replace(EMOJI, '');
  t = t.replace(/[*_`#|~^<>\\[\]{}=]+/g, ' ');
  t = t.replace(/[ \t\u00A0\u3000]+/g, ' ');
  t = t.replace(/ +([.,!?。，！？…])/g, '$1');
  return t
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('\n');
}

const HAS_WORD = /[\p{L}\p{N}]/u;
// A sentence ends at . ! ? … (and their full-width forms), perhaps followed by closing quotes, then space.
const BOUNDARY = /(?<=[.!?。！？…]["'”’」』)\]]*)\s+/u;

/** Sentences in order; lines are boundaries too. Pieces with no word (a lone "...") join the previous one. */
export function splitSentences(text: string, maxLen = 300): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    for (const piece of line.split(BOUNDARY)) {
      const s = piece.trim();
      if (s === '') continue;
      if (!HAS_WORD.test(s) && out.length > 0) out[out.length - 1] += s;
      else if (HAS_WORD.test(s)) out.push(...cutLong(s, maxLen));
    }
  }
  return out;
}

function cutLong(s: string, maxLen: number): string[] {
  const parts: string[] = [];
  let rest = s;
  while (rest.length > maxLen) {
    const window = rest.slice(0, maxLen);
    let cut = Math.max(window.lastIndexOf(', '), window.lastIndexOf('، '), window.lastIndexOf('、'));
    if (cut < maxLen / 3) cut = window.lastIndexOf(' ');
    if (cut < maxLen / 3) cut = maxLen - 1;
    parts.push(rest.slice(0, cut + 1).trim());
    rest = rest.slice(cut + 1).trim();
  }
  if (rest !== '') parts.push(rest);
  return parts;
}

export function prepareText(raw: string, opts: TextPrepOptions): PreparedText {
  const text = cleanText(raw, opts.stripActions);
  const chars = [...text].length;
  if (chars > opts.maxChars) {
    return {
      ok: false,
      code: 'tts_text_too_long',
      reason: `text too long for speech: ${chars} characters, the limit is ${opts.maxChars} (TTS_MAX_CHARS)`,
    };
  }
  const sentences = splitSentences(text, opts.maxSentenceChars);
  if (sentences.length === 0) return { ok: false, code: 'nothing_to_speak', reason: 'nothing to speak' };
  return { ok: true, text, sentences };
}

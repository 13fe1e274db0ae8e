/**
 * Cuts a reply into speakable chunks while it streams, so speech can start with the first sentence.
 * Boundaries come from `Intl.Segmenter` (Unicode sentence rules: Korean, English, Japanese `。！？`);
 * the last segment is held back until more text or the end arrives, since it may still grow. Because a
 * chunk is only cut where the text after it has begun, the chunks do not depend on how the text was
 * split into tokens (the tests check this for random splits).
 */

export interface SplitterOptions {
  /** Drop role-play stage directions in single asterisks (`*smiles*`), as TTS_STRIP_ACTIONS says. */
  stripActions: boolean;
  /** A sentence lighter than this joins the next one (CJK characters weigh 2, other letters 1). */
  minWeight?: number;
  /** A held-back segment longer than this (no sentence end in sight) is cut at a comma or a space. */
  maxChars?: number;
}

const segmenter = new Intl.Segmenter(['ko', 'en', 'ja'], { granularity: 'sentence' });

// Words whose period does not end a sentence. Lower-cased, without the final period.
const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'st',
  'sr',
  'jr',
  'vs',
  'etc',
  'e.g',
  'i.e',
  'no',
  'inc',
  'ltd',
  'co',
  'mt',
  'a.m',
  'p.m',
  'u.s',
  'approx',
  'fig',
]);
const LAST_WORD = /([\p{L}.]+)\.["'”’)\]]*\s*$/u;
const ELLIPSIS_END = /(\.\.\.|…)["'”’)\]]*\s*$/u;
const CJK = /[\p{Script=Hangul}\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const LETTER = /[\p{L}\p{N}]/u;
const ACTION = /\*[^*\n]+\*/g;

/** How much there is to say: CJK characters carry about a syllable each, Latin letters less. */
export function speechWeight(text: string): number {
  let w = 0;
  for (const ch of text) if (LETTER.test(ch)) w += CJK.test(ch) ? 2 : 1;
  return w;
}

/** A boundary after this text is not a sentence end: an abbreviation, an initial, an ellipsis, an open `*`. */
function runsOn(text: string): boolean {
  if (ELLIPSIS_END.test(text)) return true;
  const word = LAST_WORD.exec(text)?.[1];
  if (word && (ABBREVIATIONS.has(word.toLowerCase()) || /^\p{Lu}$/u.test(word))) return true;
  return (text.match(/\*/g)?.length ?? 0) % 2 === 1;
}

export class SentenceSplitter {
  private pending = '';
  private readonly minWeight: number;
  private readonly maxChars: number;

  constructor(private readonly o: SplitterOptions) {
    this.minWeight = o.minWeight ?? 8;
    this.maxChars = o.maxChars ?? 240;
  }

  /** Adds streamed text; returns the chunks it completed (often none). */
  push(delta: string): string[] {
    this.pending += delta;
    return this.take(false);
  }

  /** The reply ended: everything still held, as chunks. */
  end(): string[] {
    const out = this.take(true);
    this.pending = '';
    return out;
  }

  private take(final: boolean): string[] {
    // Stage directions become blanks of the same length before segmenting: `*nods*` would otherwise read
    // as lower-case text that continues the sentence before it.
    const view = this.o.stripActions
      ? this.pending.replace(ACTION, (m) => ' '.repeat(m.length))
      : this.pending;
    const segments = [...segmenter.segment(view)].map((s) => s.segment);
    const out: string[] = [];
    let current = '';
    for (const [i, segment] of segments.entries()) {
      const last = i === segments.length - 1;
      if (last && !final) break;
      current += segment;
      if (!last && (runsOn(current) || speechWeight(stripped(current, this.o)) < this.minWeight)) continue;
      this.emit(current, out);
      current = '';
    }
    if (!final) {
      // A long run without a sentence end: speak up to its last comma (or space) now.
      let held = current + (segments.at(-1) ?? '');
      for (let cut = this.cut(held); cut; cut = this.cut(held)) {
        this.emitWhole(cut[0], out);
        held = cut[1];
      }
      this.pending = held;
    }
    return out;
  }

  /** Where a text longer than maxChars is cut: the last comma (or space) of its first maxChars characters. */
  private cut(text: string): [string, string] | null {
    if (text.length <= this.maxChars) return null;
    const window = text.slice(0, this.maxChars);
    let at = Math.max(window.lastIndexOf(', '), window.lastIndexOf('、'), window.lastIndexOf('，'));
    if (at < this.maxChars / 3) at = window.lastIndexOf(' ');
    if (at < this.maxChars / 3) return null;
    const head = text.slice(0, at + 1);
    // Never inside a stage direction: it is dropped (or kept) whole.
    if ((head.match(/\*/g)?.length ?? 0) % 2 === 1) return null;
    return [head, text.slice(at + 1)];
  }

  /** A complete sentence: cut as a held-back run of the same text would have been, then emitted. */
  private emit(raw: string, out: string[]): void {
    let rest = raw;
    for (let cut = this.cut(rest); cut; cut = this.cut(rest)) {
      this.emitWhole(cut[0], out);
      rest = cut[1];
    }
    this.emitWhole(rest, out);
  }

  private emitWhole(raw: string, out: string[]): void {
    const text = stripped(raw, this.o).replace(/\s+/g, ' ').trim();
    if (LETTER.test(text)) out.push(text);
  }
}

const stripped = (text: string, o: SplitterOptions) => (o.stripActions ? text.replace(ACTION, ' ') : text);

/** The parts of a keydown that decide whether Enter sends (a DOM KeyboardEvent has them all). */
export interface KeyLike {
  key: string;
  shiftKey: boolean;
  isComposing: boolean;
  keyCode: number;
}

/**
 * True for the Enter that should send: not Shift+Enter (a new line), and not an Enter that belongs to an
 * IME composition (Hangul, kana): `isComposing`, our own compositionstart/end flag, or keyCode 229, which
 * Safari reports for the Enter that ends a composition after compositionend has already fired.
 */
export function isSendKey(e: KeyLike, composing: boolean): boolean {
  return e.key === 'Enter' && !e.shiftKey && !e.isComposing && !composing && e.keyCode !== 229;
}

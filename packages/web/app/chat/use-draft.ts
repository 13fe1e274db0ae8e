import { useState } from 'preact/hooks';
import { draft } from '../store.js';

/** The unsent text of the message box, kept across a reload of this tab. */
export function useDraft(): [string, (text: string) => void] {
  const [text, setText] = useState(draft.get);
  const set = (v: string) => {
    setText(v);
    draft.set(v);
  };
  return [text, set];
}

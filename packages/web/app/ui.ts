import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { ApiError, fieldErrors } from './api.js';
import { type Translate, translator } from './i18n.js';

export const I18n = createContext<Translate>(translator('en'));
export const useT = () => useContext(I18n);

/** A random id; `crypto.randomUUID` exists only in secure contexts (not on http://<lan-ip>). */
export function newKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Text of an error for people: the api's message, or each field it refused with why (`top_p: …`). */
export function messageOf(err: unknown): string {
  const fields = err instanceof ApiError ? fieldErrors(err) : [];
  if (fields.length > 0)
    return fields.map((d) => `${d.field.replace(/^body\./, '')}: ${d.message}`).join('; ');
  return err instanceof Error ? err.message : String(err);
}

/**
 * The sampling settings of the "advanced" fold: what the person typed, kept as text, and the request fields
 * made of it. A field left empty is not sent (the server's default stands). The ranges are those of
 * `ChatJobRequest` in packages/contracts/src/chat.ts (test/web/client-logic.test.ts checks them against
 * it); the page only hints them, the api checks and names a field it refuses.
 */
import type { ChatJobRequest } from '@gateway/contracts';

export type NumberKey =
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'min_p'
  | 'repetition_penalty'
  | 'presence_penalty'
  | 'frequency_penalty'
  | 'max_tokens'
  | 'seed';
export type SamplingKey = NumberKey | 'stop';

export interface NumberField {
  key: NumberKey;
  /** The range as the contract has it; `above` means the lower bound itself is not allowed. */
  min?: number;
  max?: number;
  above?: boolean;
  step: number;
}

export const NUMBER_FIELDS: readonly NumberField[] = [
  { key: 'temperature', min: 0, max: 2, step: 0.05 },
  { key: 'top_p', min: 0, max: 1, step: 0.01 },
  { key: 'top_k', min: -1, max: 1_000, step: 1 },
  { key: 'min_p', min: 0, max: 1, step: 0.01 },
  { key: 'repetition_penalty', min: 0, above: true, max: 2, step: 0.01 },
  { key: 'presence_penalty', min: -2, max: 2, step: 0.1 },
  { key: 'frequency_penalty', min: -2, max: 2, step: 0.1 },
  { key: 'max_tokens', min: 1, max: 32_768, step: 1 },
  { key: 'seed', step: 1 },
];

/** Most stop strings the api takes. */
export const MAX_STOPS = 16;

/** The text of each field as typed; '' or absent: not set. `stop` holds one stop string per line. */
export type SamplingValues = Partial<Record<SamplingKey, string>>;

export type SamplingRequest = Pick<ChatJobRequest, SamplingKey>;

export function samplingRequest(values: SamplingValues): SamplingRequest {
  const out: Record<string, unknown> = {};
  for (const f of NUMBER_FIELDS) {
    const text = values[f.key]?.trim();
    if (!text) continue;
    const n = Number(text);
    // Not a number at all: sent as typed, so that the api's answer names the field.
    out[f.key] = Number.isFinite(n) ? n : text;
  }
  const stops = (values.stop ?? '').split('\n').filter((s) => s !== '');
  if (stops.length > 0) out.stop = stops;
  return out as SamplingRequest;
}

/** A short line of what is set, for the fold's summary (`temperature 0.8 · stop 2`). */
export function samplingSummary(values: SamplingValues): string {
  const req = samplingRequest(values);
  return Object.entries(req)
    .map(([k, v]) => (Array.isArray(v) ? `${k} ${v.length}` : `${k} ${v}`))
    .join(' · ');
}

/** The range hint of a field (`0 ~ 2`, `> 0 ~ 2`), empty for a field without one. */
export function rangeOf(f: NumberField): string {
  if (f.min === undefined || f.max === undefined) return '';
  return `${f.above ? '> ' : ''}${f.min} ~ ${f.max}`;
}

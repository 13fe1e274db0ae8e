import { MAX_STOPS, NUMBER_FIELDS, rangeOf, type SamplingValues, samplingSummary } from '../sampling.js';
import { useT } from '../ui.js';

interface Props {
  values: SamplingValues;
  onChange: (v: SamplingValues) => void;
  /** Fields the api refused in the last request: marked until a request is taken. */
  invalid: string[];
}

/**
 * The "advanced" fold: sampling fields sent with each turn and regeneration when filled in. Labelled
 * with the request's own field names, which are also the names the api's errors use.
 */
export function SamplingForm({ values, onChange, invalid }: Props) {
  const t = useT();
  const summary = samplingSummary(values);
  const set = (key: keyof SamplingValues, v: string) => onChange({ ...values, [key]: v });
  return (
    <details class="advanced" open={invalid.length > 0 ? true : undefined}>
      <summary>
        {t('advanced')}
        <span class="muted"> · {summary || t('serverDefaults')}</span>
      </summary>
      <div class="sampling-fields">
        {NUMBER_FIELDS.map((f) => {
          const id = `sampling-${f.key}`;
          const range = rangeOf(f);
          return (
            <div key={f.key} class="field">
              <label for={id}>{f.key}</label>
              <input
                id={id}
                type="number"
                inputMode={f.step === 1 ? 'numeric' : 'decimal'}
                step={f.step}
                min={f.above ? undefined : f.min}
                max={f.max}
                placeholder={range}
                aria-invalid={invalid.includes(f.key) ? 'true' : undefined}
                value={values[f.key] ?? ''}
                onInput={(e) => set(f.key, e.currentTarget.value)}
              />
            </div>
          );
        })}
        <div class="field stop-field">
          <label for="sampling-stop">stop</label>
          <textarea
            id="sampling-stop"
            rows={2}
            aria-describedby="sampling-stop-hint"
            aria-invalid={invalid.some((f) => f.startsWith('stop')) ? 'true' : undefined}
            value={values.stop ?? ''}
            onInput={(e) => set('stop', e.currentTarget.value)}
          />
          <p id="sampling-stop-hint" class="hint">
            {t('stopHint', { n: MAX_STOPS })}
          </p>
        </div>
      </div>
      <div class="sampling-foot">
        <p class="hint">{t('samplingHint')}</p>
        <button type="button" class="small" disabled={!summary} onClick={() => onChange({})}>
          {t('resetSampling')}
        </button>
      </div>
    </details>
  );
}

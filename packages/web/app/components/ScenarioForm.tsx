import type { Scenario } from '../api.js';
import { useT } from '../ui.js';

const FIELDS = ['opponent', 'situation', 'background'] as const;

/** Who the person plays, where, and what happened before: sent with every turn of the conversation. */
export function ScenarioForm({
  value,
  onChange,
  open,
}: {
  value: Scenario;
  onChange: (s: Scenario) => void;
  open: boolean;
}) {
  const t = useT();
  const filled = FIELDS.filter((f) => value[f]?.trim()).map((f) => value[f]?.trim());
  return (
    <details class="scenario" open={open}>
      <summary>
        {t('scenario')}
        {filled.length > 0 && <span class="muted"> · {filled.join(' · ')}</span>}
      </summary>
      <div class="scenario-fields">
        {FIELDS.map((f) => (
          <div key={f} class="field">
            <label for={`scenario-${f}`}>{t(f)}</label>
            <textarea
              id={`scenario-${f}`}
              rows={f === 'background' ? 2 : 1}
              value={value[f] ?? ''}
              onInput={(e) => onChange({ ...value, [f]: e.currentTarget.value })}
            />
          </div>
        ))}
      </div>
    </details>
  );
}

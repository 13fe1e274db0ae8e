import { useState } from 'preact/hooks';
import type { StoredPlace } from '../chat/types.js';
import { useT } from '../ui.js';

/** What can be done to a stored message; each absent callback leaves its button out. */
export interface MessageActions {
  /** Shows another of the message's alternatives (‹ ›). */
  onSelect?: ((selected: number) => void) | undefined;
  /** Generates the last reply again. */
  onRegenerate?: (() => void) | undefined;
  /** Replaces the text; resolves true once stored. */
  onEdit?: ((text: string) => Promise<boolean>) | undefined;
  /** A reply is being written or a change is on its way: nothing may change now. */
  disabled: boolean;
}

/** ‹ 1/3 › between a message's alternatives, "regenerate" on the last reply, and "edit". */
export function MessageTools({
  stored,
  actions,
  onStartEdit,
}: {
  stored: StoredPlace;
  actions: MessageActions;
  onStartEdit: () => void;
}) {
  const t = useT();
  const { onSelect, onRegenerate, onEdit, disabled } = actions;
  const total = stored.alternatives.length;
  const at = stored.selected;
  return (
    <div class="msg-tools">
      {onSelect && total > 1 && (
        <fieldset class="swipes">
          <legend class="visually-hidden">{t('alternatives')}</legend>
          <button
            type="button"
            class="small arrow prev"
            aria-label={t('previousAlternative')}
            disabled={disabled || at <= 0}
            onClick={() => onSelect(at - 1)}
          >
            ‹
          </button>
          <span class="swipe-count" aria-live="polite">
            <span aria-hidden="true">
              {at + 1}/{total}
            </span>
            <span class="visually-hidden">{t('alternativeOf', { n: at + 1, total })}</span>
          </span>
          <button
            type="button"
            class="small arrow next"
            aria-label={t('nextAlternative')}
            disabled={disabled || at >= total - 1}
            onClick={() => onSelect(at + 1)}
          >
            ›
          </button>
        </fieldset>
      )}
      {onRegenerate && (
        <button type="button" class="small" disabled={disabled} onClick={onRegenerate}>
          <span aria-hidden="true">↻ </span>
          {t('regenerate')}
        </button>
      )}
      {onEdit && (
        <button type="button" class="small" disabled={disabled} onClick={onStartEdit}>
          {t('editMessage')}
        </button>
      )}
    </div>
  );
}

/** The text of a message in a box to change it; Escape or "cancel" leaves it as it was. */
export function MessageEditor({
  text,
  onSave,
  onDone,
}: {
  text: string;
  onSave: (text: string) => Promise<boolean>;
  onDone: () => void;
}) {
  const t = useT();
  const [value, setValue] = useState(text);
  const [saving, setSaving] = useState(false);
  const [fieldId] = useState(() => `edit-${Math.random().toString(36).slice(2)}`);
  const save = async (e: Event) => {
    e.preventDefault();
    if (!value.trim()) return;
    setSaving(true);
    const ok = await onSave(value);
    setSaving(false);
    if (ok) onDone();
  };
  return (
    <form class="msg-edit" onSubmit={save}>
      <label for={fieldId} class="visually-hidden">
        {t('editMessage')}
      </label>
      <textarea
        id={fieldId}
        rows={Math.min(10, Math.max(2, value.split('\n').length + 1))}
        maxLength={16_000}
        value={value}
        // biome-ignore lint/a11y/noAutofocus: the person just asked to edit this text.
        autoFocus
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onDone();
        }}
      />
      <div class="row">
        <button type="submit" class="primary small" disabled={saving || !value.trim()}>
          {t('save')}
        </button>
        <button type="button" class="small" onClick={onDone}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

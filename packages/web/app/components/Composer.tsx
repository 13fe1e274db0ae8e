import { useRef } from 'preact/hooks';
import { isSendKey } from '../keys.js';
import { useT } from '../ui.js';

interface Props {
  value: string;
  onInput: (v: string) => void;
  onSend: () => void;
  /** Sending is not possible right now (a reply is being written); typing still is. */
  canSend: boolean;
  /** The text is on its way (or waiting to be sent again): it may not change under the submission. */
  locked: boolean;
}

export function Composer({ value, onInput, onSend, canSend, locked }: Props) {
  const t = useT();
  const composing = useRef(false);
  const ready = canSend && !locked && value.trim() !== '';
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        if (ready) onSend();
      }}
    >
      <label for="composer-input" class="composer-label">
        {t('message')}
      </label>
      <textarea
        id="composer-input"
        rows={2}
        maxLength={16_000}
        placeholder={t('messagePlaceholder')}
        value={value}
        readOnly={locked}
        onInput={(e) => onInput(e.currentTarget.value)}
        onCompositionStart={() => {
          composing.current = true;
        }}
        onCompositionEnd={() => {
          composing.current = false;
        }}
        onKeyDown={(e) => {
          if (!isSendKey(e, composing.current)) return;
          e.preventDefault();
          if (ready) onSend();
        }}
      />
      <button type="submit" class="primary" disabled={!ready}>
        {t('send')}
      </button>
    </form>
  );
}

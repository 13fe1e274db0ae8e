import { useEffect, useState } from 'preact/hooks';
import type { Wait } from '../chat/types.js';
import { useT } from '../ui.js';

/** A message the api could not take yet: the seconds until it is sent again, "retry now" and "stop". */
export function WaitNotice({ wait, onNow, onStop }: { wait: Wait; onNow: () => void; onStop: () => void }) {
  const t = useT();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  const secs = Math.max(0, Math.ceil((wait.until - now) / 1000));
  return (
    <div class="notice" role="status">
      <span>{t(wait.reason, { s: secs })}</span>
      <button type="button" class="small" onClick={onNow}>
        {t('retryNow')}
      </button>
      <button type="button" class="small" onClick={onStop}>
        {t('stopRetrying')}
      </button>
    </div>
  );
}

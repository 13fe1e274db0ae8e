import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, waitable } from '../api.js';
import type { Wait } from './types.js';

/**
 * Sends a request until the api takes it: a 429, a 503 or no answer at all is sent again after the wait the
 * api asks for (`Retry-After`), shown as a notice with "retry now" and "stop". Other errors go to `onError`
 * (null: a new attempt cleared the last one).
 */
export function useSubmission(onError: (err: unknown) => void) {
  const [sending, setSending] = useState(false);
  const [wait, setWait] = useState<Wait | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout>>();
  const resend = useRef<(() => void) | null>(null);
  useEffect(() => () => clearTimeout(timer.current), []);

  /** `attempt` is called again for each retry: it must send the same request (same idempotency key). */
  const submit = async <T>(attempt: () => Promise<T>, onAccepted: (result: T) => void): Promise<void> => {
    clearTimeout(timer.current);
    setWait(null);
    onError(null);
    setSending(true);
    try {
      const result = await attempt();
      setSending(false);
      onAccepted(result);
    } catch (err) {
      if (err instanceof ApiError && waitable(err)) {
        const secs = Math.max(1, err.retryAfter ?? (err.offline ? 3 : 5));
        setWait({
          reason: err.status === 429 ? 'tooMany' : err.offline ? 'offline' : 'notReady',
          until: Date.now() + secs * 1000,
        });
        resend.current = () => void submit(attempt, onAccepted);
        timer.current = setTimeout(resend.current, secs * 1000);
        return;
      }
      setSending(false);
      onError(err);
    }
  };

  return {
    sending,
    wait,
    submit,
    retryNow: () => resend.current?.(),
    stopWaiting() {
      clearTimeout(timer.current);
      setWait(null);
      setSending(false);
    },
  };
}

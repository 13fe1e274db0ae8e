import { useState } from 'preact/hooks';
import type { Msg } from '../chat/types.js';
import { type ReplyState, waiting } from '../reply-state.js';
import { type useT as UseT, useT } from '../ui.js';
import { type MessageActions, MessageEditor, MessageTools } from './MessageTools.js';
import { Speech } from './Speech.js';

interface Props {
  msg: Msg;
  name: string;
  /** Set while this is the reply being written: its status line and stop button. */
  live?: ReplyState | undefined;
  onCancel?: (() => void) | null | undefined;
  onRetry?: (() => void) | null | undefined;
  /** Alternatives, regenerate and edit, for a message the api has stored. */
  actions?: MessageActions | undefined;
}

/**
 * One message. The reply in flight and the finished reply are the same element (same key, same
 * component), so its `<audio>` is not replaced when the stream ends.
 */
export function MessageItem({ msg, name, live, onCancel, onRetry, actions }: Props) {
  const t = useT();
  const [editing, setEditing] = useState(false);
  const status = live ? statusText(t, live, name) : null;
  const textDone = !live || live.phase === 'streamed' || live.phase === 'completed';
  return (
    <li
      class={`msg ${msg.role}${live ? ' live' : ''}`}
      data-job-id={msg.jobId ?? undefined}
      data-index={msg.stored?.index}
      data-phase={live?.phase}
      aria-busy={live && !textDone ? 'true' : undefined}
    >
      <span class="msg-who">{msg.role === 'user' ? t('you') : name}</span>
      {editing && actions?.onEdit ? (
        <MessageEditor text={msg.content} onSave={actions.onEdit} onDone={() => setEditing(false)} />
      ) : (
        (msg.content !== '' || !status) && <p class="msg-text">{msg.content}</p>
      )}
      {status && (
        <p class={live?.backendTrouble ? 'notice-inline warn' : 'notice-inline'} role="status">
          {live?.phase === 'queued' && !live.backendTrouble && <span class="dots" aria-hidden="true" />}
          {status}
        </p>
      )}
      {msg.role === 'assistant' && msg.jobId && (textDone || msg.tts) && (
        <Speech jobId={msg.jobId} tts={msg.tts} autoplay={msg.autoplay} />
      )}
      {msg.stored && actions && !editing && (
        <MessageTools stored={msg.stored} actions={actions} onStartEdit={() => setEditing(true)} />
      )}
      {onCancel && (
        <button type="button" class="small stop" onClick={onCancel}>
          <span aria-hidden="true">■ </span>
          {t('stop')}
        </button>
      )}
      {msg.unanswered && (
        <div class="msg-note">
          <p class={msg.unanswered.phase === 'failed' ? 'error' : 'muted'}>
            {msg.unanswered.phase === 'cancelled'
              ? t('cancelled')
              : t('failed', { message: msg.unanswered.error ?? '' })}
          </p>
          {onRetry && (
            <button type="button" class="small" onClick={onRetry}>
              {t('retry')}
            </button>
          )}
        </div>
      )}
    </li>
  );
}

function statusText(t: ReturnType<typeof UseT>, r: ReplyState, name: string): string | null {
  if (r.backendTrouble && waiting(r)) return t('backendDown');
  if (r.phase === 'queued') {
    if (r.queuePosition === null) return t('queued');
    return r.etaSeconds === null
      ? t('queuedAt', { n: r.queuePosition })
      : t('queuedEta', { n: r.queuePosition, s: Math.ceil(r.etaSeconds) });
  }
  if (r.phase === 'running')
    return r.restarted ? t('restarted') : r.text === '' ? t('writing', { name }) : null;
  return null;
}

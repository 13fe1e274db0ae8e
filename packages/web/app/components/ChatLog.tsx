import { useEffect, useRef } from 'preact/hooks';
import type { Live, Msg } from '../chat/types.js';
import { cancellable } from '../reply-state.js';
import { useT } from '../ui.js';
import { MessageItem } from './Message.js';

interface Props {
  messages: Msg[];
  live: Live | null;
  name: string;
  /** Speech of the reply in flight plays as it arrives. */
  autoplay: boolean;
  busy: boolean;
  onRetry: (m: Msg) => void;
  onCancel: () => void;
}

/** The conversation's messages, then the turn in flight; the newest text stays in view while it streams. */
export function ChatLog({ messages, live, name, autoplay, busy, onRetry, onCancel }: Props) {
  const t = useT();
  const ref = useRef<HTMLOListElement>(null);
  const liveText = live?.reply.text;
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length, liveText]);

  // Only the last message sent can be sent again, and only while no reply is being written.
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  return (
    <ol class="log" ref={ref} aria-label={t('messages')} aria-busy={busy ? 'true' : 'false'}>
      {[
        ...messages.map((m) => (
          <MessageItem
            key={m.key}
            msg={m}
            name={name}
            onRetry={m === lastUser && m.unanswered && !busy ? () => onRetry(m) : null}
          />
        )),
        ...(live ? liveItems(live, name, autoplay, onCancel) : []),
      ]}
    </ol>
  );
}

/** The turn in flight as two messages, keyed like the finished ones so that they are the same elements. */
function liveItems(live: Live, name: string, autoplay: boolean, cancel: () => void) {
  const r = live.reply;
  const base = { jobId: r.jobId, tts: null, autoplay: false };
  return [
    <MessageItem
      key={`user-${r.jobId}`}
      msg={{ ...base, key: `user-${r.jobId}`, role: 'user', content: live.userText }}
      name={name}
    />,
    <MessageItem
      key={`assistant-${r.jobId}`}
      msg={{
        ...base,
        key: `assistant-${r.jobId}`,
        role: 'assistant',
        content: r.text,
        tts: r.tts,
        autoplay,
      }}
      name={name}
      live={r}
      onCancel={cancellable(r) ? cancel : null}
    />,
  ];
}

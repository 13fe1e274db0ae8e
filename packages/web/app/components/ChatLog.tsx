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
  onRegenerate: () => void;
  onSelect: (m: Msg, selected: number) => Promise<boolean>;
  onEdit: (m: Msg, text: string) => Promise<boolean>;
}

/** The conversation's messages, then the turn in flight; the newest text stays in view while it streams. */
export function ChatLog(props: Props) {
  const { messages, live, name, autoplay, busy, onRetry, onCancel } = props;
  const t = useT();
  const ref = useRef<HTMLOListElement>(null);
  const liveText = live?.reply.text;
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length, liveText]);

  /**
   * Another alternative may be another job's reply, so the message can be a new element: the focus goes
   * back to its arrow (the other one when this end is reached).
   */
  const select = async (m: Msg, k: number) => {
    const dir = k > (m.stored?.selected ?? 0) ? 'next' : 'prev';
    if (!(await props.onSelect(m, k))) return;
    requestAnimationFrame(() => {
      const item = ref.current?.querySelector(`li[data-index="${m.stored?.index}"]`);
      const arrow = item?.querySelector<HTMLButtonElement>(`.arrow.${dir}:not(:disabled)`);
      (arrow ?? item?.querySelector<HTMLButtonElement>('.arrow:not(:disabled)'))?.focus();
    });
  };

  // Only the last message sent can be sent again, and only while no reply is being written.
  const lastUser = messages.findLast((m) => m.role === 'user');
  // The last reply can be generated again when it answers a message (not a greeting alone); while that
  // runs, the new reply is written in its place.
  const last = messages.at(-1);
  const prev = messages.at(-2);
  const regenerable = last?.role === 'assistant' && last.stored && prev?.role === 'user' ? last : null;
  const shown = live?.regenerate && regenerable ? messages.slice(0, -1) : messages;
  return (
    <ol class="log" ref={ref} aria-label={t('messages')} aria-busy={busy ? 'true' : 'false'}>
      {[
        ...shown.map((m) => (
          <MessageItem
            key={m.key}
            msg={m}
            name={name}
            onRetry={m === lastUser && m.unanswered && !busy ? () => onRetry(m) : null}
            actions={{
              disabled: busy,
              onSelect: (k) => void select(m, k),
              onEdit: (text) => props.onEdit(m, text),
              onRegenerate: m === regenerable ? props.onRegenerate : undefined,
            }}
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
    !live.regenerate && (
      <MessageItem
        key={`user-${r.jobId}`}
        msg={{ ...base, key: `user-${r.jobId}`, role: 'user', content: live.userText }}
        name={name}
      />
    ),
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

import { useEffect, useRef, useState } from 'preact/hooks';
import { cancellable } from '../reply-state.js';
import { prefs, type SavedConversation, type TtsChoice } from '../store.js';
import { useT } from '../ui.js';
import { Composer } from './Composer.js';
import { MessageItem } from './Message.js';
import { ScenarioForm } from './ScenarioForm.js';
import { type Live, useChat, type Wait } from './use-chat.js';
import type { ChatSession } from './Workspace.js';

interface Props {
  session: ChatSession;
  onBack: () => void;
  onNew: () => void;
  onSaved: (c: SavedConversation) => void;
}

export function Chat({ session, onBack, onNew, onSaved }: Props) {
  const t = useT();
  const [tts, setTts] = useState<TtsChoice>(prefs.tts);
  const chat = useChat(session, tts, onSaved);
  const logRef = useRef<HTMLOListElement>(null);
  const name = session.characterName || session.character?.name || '…';

  // Opening a chat moves the focus there: to the message box, or on a phone (where that would pop up the
  // keyboard) to the chat's heading.
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (window.matchMedia('(min-width: 760px)').matches) document.getElementById('composer-input')?.focus();
    else headingRef.current?.focus();
  }, []);

  // Keep the newest text in view while it streams.
  const liveText = chat.live?.reply.text;
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [chat.messages.length, liveText]);

  const lastUser = [...chat.messages].reverse().find((m) => m.role === 'user');
  const live = chat.live;

  return (
    <section class="chat" aria-labelledby="chat-title">
      <div class="chat-head">
        <button type="button" class="ghost back" onClick={onBack}>
          <span aria-hidden="true">← </span>
          {t('back')}
        </button>
        <h2 id="chat-title" ref={headingRef} tabIndex={-1}>
          {name}
        </h2>
        <div class="chat-tools">
          <label for="tts-mode">{t('speech')}</label>
          <select
            id="tts-mode"
            value={tts}
            onChange={(e) => {
              const v = e.currentTarget.value as TtsChoice;
              prefs.setTts(v);
              setTts(v);
            }}
          >
            <option value="realtime">{t('ttsRealtime')}</option>
            <option value="on_click">{t('ttsOnClick')}</option>
            <option value="off">{t('ttsOff')}</option>
          </select>
          {session.character && (
            <button type="button" class="small" onClick={onNew}>
              {t('newConversation')}
            </button>
          )}
        </div>
      </div>
      <ScenarioForm value={chat.scenario} onChange={chat.setScenario} open={chat.conversationId === null} />
      <ol class="log" ref={logRef} aria-label={t('messages')} aria-busy={chat.busy ? 'true' : 'false'}>
        {[
          ...chat.messages.map((m) => (
            <MessageItem
              key={m.key}
              msg={m}
              name={name}
              onRetry={
                m === lastUser && m.unanswered && !chat.busy
                  ? () => void chat.send(m.content, { fromComposer: false, replaces: m.key })
                  : null
              }
            />
          )),
          ...(live ? liveItems(live, name, tts, () => void chat.cancel()) : []),
        ]}
      </ol>
      {chat.wait && <WaitNotice wait={chat.wait} onNow={chat.retryNow} onStop={chat.stopWaiting} />}
      {chat.error && (
        <p class="error" role="alert">
          {t('genericError', { message: chat.error })}
        </p>
      )}
      <Composer
        value={chat.text}
        onInput={chat.setText}
        canSend={!chat.busy}
        locked={chat.sending}
        onSend={() => void chat.send(chat.text.trim(), { fromComposer: true })}
      />
    </section>
  );
}

function WaitNotice({ wait, onNow, onStop }: { wait: Wait; onNow: () => void; onStop: () => void }) {
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

/** The turn in flight as two messages, keyed like the finished ones so that they are the same elements. */
function liveItems(live: Live, name: string, tts: TtsChoice, cancel: () => void) {
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
        autoplay: tts === 'realtime',
      }}
      name={name}
      live={r}
      onCancel={cancellable(r) ? cancel : null}
    />,
  ];
}

import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatSession } from '../chat/types.js';
import { type ChatEvents, useChat } from '../chat/use-chat.js';
import type { SamplingValues } from '../sampling.js';
import { prefs, type TtsChoice } from '../store.js';
import { useT } from '../ui.js';
import { ChatLog } from './ChatLog.js';
import { Composer } from './Composer.js';
import { SamplingForm } from './SamplingForm.js';
import { ScenarioForm } from './ScenarioForm.js';
import { WaitNotice } from './WaitNotice.js';

interface Props {
  session: ChatSession;
  onBack: () => void;
  onNew: () => void;
  events: ChatEvents;
}

export function Chat({ session, onBack, onNew, events }: Props) {
  const t = useT();
  const [tts, setTts] = useState<TtsChoice>(prefs.tts);
  const [sampling, setSampling] = useState<SamplingValues>(prefs.sampling);
  const chat = useChat(session, tts, sampling, events);
  const name = session.characterName || session.character?.name || '…';

  // Opening a chat moves the focus there: to the message box, or on a phone (where that would pop up the
  // keyboard) to the chat's heading.
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (window.matchMedia('(min-width: 760px)').matches) document.getElementById('composer-input')?.focus();
    else headingRef.current?.focus();
  }, []);

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
      <ChatLog
        messages={chat.messages}
        live={chat.live}
        name={name}
        autoplay={tts === 'realtime'}
        busy={chat.busy}
        onRetry={(m) => void chat.send(m.content, { fromComposer: false, replaces: m.key })}
        onCancel={() => void chat.cancel()}
        onRegenerate={() => void chat.regenerate()}
        onSelect={chat.select}
        onEdit={chat.edit}
      />
      {chat.wait && <WaitNotice wait={chat.wait} onNow={chat.retryNow} onStop={chat.stopWaiting} />}
      {chat.error && (
        <p class="error" role="alert">
          {chat.error}
        </p>
      )}
      <SamplingForm
        values={sampling}
        invalid={chat.invalid}
        onChange={(v) => {
          prefs.setSampling(v);
          setSampling(v);
        }}
      />
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

import { useState } from 'preact/hooks';
import { type ChatJobRequest, chatApi, type Scenario } from '../api.js';
import type { SavedConversation, TtsChoice } from '../store.js';
import { messageOf, newKey } from '../ui.js';
import { finishedTurn } from './turns.js';
import type { ChatSession } from './types.js';
import { useDraft } from './use-draft.js';
import { useLiveReply } from './use-live-reply.js';
import { useMessages } from './use-messages.js';
import { useSubmission } from './use-submission.js';

const SUBMIT_TIMEOUT_MS = 20_000;

/** One conversation on screen: its log, the reply in flight, the message box and sending. */
export function useChat(session: ChatSession, ttsChoice: TtsChoice, onSaved: (c: SavedConversation) => void) {
  const [conversationId, setConversationId] = useState(session.conversationId);
  const [scenario, setScenario] = useState<Scenario>(session.scenario);
  const [text, setText] = useDraft();
  const [error, setError] = useState<string | null>(null);
  // The log is declared below; a reply only ends after both exist.
  const reply = useLiveReply(session, (userText, r) =>
    log.add(finishedTurn(userText, r, ttsChoice === 'realtime')),
  );
  const log = useMessages(session, reply.jobId, setError);
  const submission = useSubmission(setError);
  const { live } = reply;

  const send = (message: string, opts: { fromComposer: boolean; replaces?: string }) => {
    const body: ChatJobRequest = {
      message,
      ...(conversationId ? { conversation_id: conversationId } : {}),
      ...(session.characterId ? { character_id: session.characterId } : {}),
      scenario: cleanScenario(scenario),
      tts: ttsChoice !== 'off',
      ...(ttsChoice === 'off' ? {} : { tts_mode: ttsChoice }),
    };
    const key = newKey();
    return submission.submit(
      () => chatApi.submit(body, key, AbortSignal.timeout(SUBMIT_TIMEOUT_MS)),
      (accepted) => {
        if (opts.fromComposer) setText('');
        if (opts.replaces) log.remove(opts.replaces);
        setConversationId(accepted.conversation_id);
        reply.start(accepted.conversation_id, message, accepted.job_id);
        onSaved({
          id: accepted.conversation_id,
          title: message.slice(0, 60),
          characterId: session.characterId,
          characterName: session.characterName,
          scenario,
          updatedAt: Date.now(),
        });
      },
    );
  };

  const cancel = async () => {
    if (!live) return;
    try {
      await chatApi.cancel(live.reply.jobId);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return {
    messages: log.messages,
    live,
    scenario,
    setScenario,
    text,
    setText,
    sending: submission.sending,
    wait: submission.wait,
    error,
    busy: submission.sending || (live !== null && !live.reply.done),
    send,
    stopWaiting: submission.stopWaiting,
    retryNow: submission.retryNow,
    cancel,
    conversationId,
  };
}

function cleanScenario(s: Scenario): Scenario {
  const out: Scenario = {};
  for (const k of ['opponent', 'situation', 'background'] as const) if (s[k]?.trim()) out[k] = s[k].trim();
  return out;
}

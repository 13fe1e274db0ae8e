import { useState } from 'preact/hooks';
import {
  ApiError,
  type ChatJobRequest,
  chatApi,
  conversationApi,
  fieldErrors,
  isBusy,
  type Scenario,
} from '../api.js';
import { type SamplingValues, samplingRequest } from '../sampling.js';
import type { TtsChoice } from '../store.js';
import { messageOf, newKey, useT } from '../ui.js';
import { finishedReply, finishedTurn, storedMessages } from './turns.js';
import type { ChatSession, Msg } from './types.js';
import { useDraft } from './use-draft.js';
import { useLiveReply } from './use-live-reply.js';
import { useMessages } from './use-messages.js';
import { useSubmission } from './use-submission.js';

const SUBMIT_TIMEOUT_MS = 20_000;

export interface ChatEvents {
  /** The api took a turn; `firstMessage` is set when it opened the conversation. */
  onTurn: (c: { id: string; scenario: Scenario; firstMessage: string | null }) => void;
  /** The stored conversation changed (a reply ended, a message was edited): its place in the list. */
  onChanged: () => void;
}

/**
 * One conversation on screen: its log, the reply in flight, the message box, sending, and the changes of
 * stored messages (regenerate the last reply, pick an alternative, edit a text).
 */
export function useChat(
  session: ChatSession,
  ttsChoice: TtsChoice,
  sampling: SamplingValues,
  events: ChatEvents,
) {
  const t = useT();
  const [conversationId, setConversationId] = useState(session.conversationId);
  const [scenario, setScenario] = useState<Scenario>(session.scenario);
  const [text, setText] = useDraft();
  const [error, setError] = useState<string | null>(null);
  /** The request fields the api refused last (`top_p`, …), marked in the advanced settings. */
  const [invalid, setInvalid] = useState<string[]>([]);
  const [changing, setChanging] = useState(false);
  const fail = (err: unknown) =>
    setError(isBusy(err) ? t('conversationBusy') : t('genericError', { message: messageOf(err) }));

  // The log is declared below; a reply only ends after both exist.
  const reply = useLiveReply(session, (userText, r, regenerate) => {
    const autoplay = ttsChoice === 'realtime';
    if (regenerate) {
      // A failed or stopped regeneration leaves the earlier reply as it was (it is shown again).
      if (r.phase === 'completed') log.replaceLastReply(finishedReply(r, autoplay));
      else if (r.phase === 'failed') setError(t('failed', { message: r.error?.message ?? '' }));
    } else log.add(finishedTurn(userText, r, autoplay));
    if (r.phase === 'completed' && conversationId) void log.reload(conversationId);
    events.onChanged();
  });
  const log = useMessages(session, reply.jobId, (m) => setError(t('genericError', { message: m })));
  const submission = useSubmission((err) => (err === null ? setError(null) : fail(err)));
  const { live } = reply;

  /** The settings every job of this page carries: scenario, speech and the advanced sampling fields. */
  const jobFields = () => ({
    scenario: cleanScenario(scenario),
    tts: ttsChoice !== 'off',
    ...(ttsChoice === 'off' ? {} : { tts_mode: ttsChoice }),
    ...samplingRequest(sampling),
  });

  /** Marks the fields a 400 names (and clears them once a request is taken). */
  const checked = async <T>(request: () => Promise<T>): Promise<T> => {
    try {
      const out = await request();
      setInvalid([]);
      return out;
    } catch (err) {
      if (err instanceof ApiError && err.status === 400)
        setInvalid(fieldErrors(err).map((f) => f.field.replace(/^body\./, '')));
      throw err;
    }
  };

  const send = (message: string, opts: { fromComposer: boolean; replaces?: string }) => {
    const body: ChatJobRequest = {
      message,
      ...(conversationId ? { conversation_id: conversationId } : {}),
      ...(session.characterId ? { character_id: session.characterId } : {}),
      ...jobFields(),
    };
    const key = newKey();
    return submission.submit(
      () => checked(() => chatApi.submit(body, key, AbortSignal.timeout(SUBMIT_TIMEOUT_MS))),
      (accepted) => {
        if (opts.fromComposer) setText('');
        if (opts.replaces) log.remove(opts.replaces);
        setConversationId(accepted.conversation_id);
        reply.start(accepted.conversation_id, message, accepted.job_id);
        events.onTurn({
          id: accepted.conversation_id,
          scenario,
          firstMessage: conversationId === null ? message : null,
        });
      },
    );
  };

  /** The last reply once more, as a new job; the earlier text stays one of its alternatives. */
  const regenerate = () => {
    const id = conversationId;
    if (!id) return;
    setError(null);
    return submission.submit(
      () => checked(() => conversationApi.regenerate(id, jobFields())),
      (accepted) => reply.start(accepted.conversation_id, '', accepted.job_id, true),
    );
  };

  /** A change of one stored message: another alternative, or new text. */
  const change = async (msg: Msg, edit: { selected?: number; content?: string }): Promise<boolean> => {
    if (!conversationId || !msg.stored) return false;
    setError(null);
    setChanging(true);
    try {
      const view = await conversationApi.editMessage(conversationId, msg.stored.index, edit);
      log.setStored(storedMessages(view.messages, undefined));
      events.onChanged();
      return true;
    } catch (err) {
      fail(err);
      return false;
    } finally {
      setChanging(false);
    }
  };

  const cancel = async () => {
    if (!live) return;
    try {
      await chatApi.cancel(live.reply.jobId);
    } catch (err) {
      fail(err);
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
    invalid,
    busy: submission.sending || changing || (live !== null && !live.reply.done),
    send,
    regenerate,
    select: (msg: Msg, selected: number) => change(msg, { selected }),
    edit: (msg: Msg, content: string) => change(msg, { content }),
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

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, type ConversationMessage, type Scenario, waitable } from '../api.js';
import type { TextKey } from '../i18n.js';
import { initialReply, type ReplyState, type TtsView } from '../reply-state.js';
import { followReply } from '../reply-stream.js';
import { draft, pending, type SavedConversation, type TtsChoice } from '../store.js';
import { messageOf, newKey } from '../ui.js';
import type { ChatSession } from './Workspace.js';

export interface Msg {
  key: string;
  role: 'user' | 'assistant';
  content: string;
  jobId: string | null;
  tts: TtsView | null;
  autoplay: boolean;
  /** A message whose reply failed or was stopped: shown with a retry button. */
  unanswered?: { phase: 'failed' | 'cancelled'; error: string | null };
}

export interface Live {
  userText: string;
  reply: ReplyState;
}

/** A submission the api could not take yet (429, 503, offline): sent again at `until`. */
export interface Wait {
  reason: Extract<TextKey, 'tooMany' | 'notReady' | 'offline'>;
  until: number;
}

interface Accepted {
  job_id: string;
  conversation_id: string;
}

const SUBMIT_TIMEOUT_MS = 20_000;

const greetingOf = (s: ChatSession): Msg[] =>
  s.conversationId === null && s.character?.greeting
    ? [
        {
          key: 'greeting',
          role: 'assistant',
          content: s.character.greeting,
          jobId: null,
          tts: null,
          autoplay: false,
        },
      ]
    : [];

export function useChat(session: ChatSession, ttsChoice: TtsChoice, onSaved: (c: SavedConversation) => void) {
  const [messages, setMessages] = useState<Msg[]>(() => greetingOf(session));
  const [live, setLive] = useState<Live | null>(() => {
    const p = pending.get();
    return p && p.conversationId === session.conversationId && !p.reply.done
      ? { userText: p.userText, reply: p.reply }
      : null;
  });
  const [conversationId, setConversationId] = useState(session.conversationId);
  const [scenario, setScenario] = useState<Scenario>(session.scenario);
  const [text, setTextState] = useState(draft.get);
  const [sending, setSending] = useState(false);
  const [wait, setWait] = useState<Wait | null>(null);
  const [error, setError] = useState<string | null>(null);
  const waitTimer = useRef<ReturnType<typeof setTimeout>>();
  const resend = useRef<(() => void) | null>(null);
  const liveRef = useRef(live);
  liveRef.current = live;

  const setText = (v: string) => {
    setTextState(v);
    draft.set(v);
  };

  // A reopened conversation: its stored messages, minus the turn still streaming (shown live instead).
  useEffect(() => {
    if (!session.conversationId) return;
    api<{ messages: ConversationMessage[] }>(
      'GET',
      `/conversations/${encodeURIComponent(session.conversationId)}`,
    )
      .then((c) => {
        const liveJob = liveRef.current?.reply.jobId;
        const stored = c.messages
          .filter((m) => !liveJob || m.job_id !== liveJob)
          .map<Msg>((m, i) => ({
            key: `${m.role}-${m.job_id ?? `g${i}`}`,
            role: m.role,
            content: m.content,
            jobId: m.job_id,
            tts: null,
            autoplay: false,
          }));
        setMessages((now) => [...stored, ...now.filter((m) => !stored.some((s) => s.key === m.key))]);
      })
      .catch((err) => setError(messageOf(err)));
    return () => clearTimeout(waitTimer.current);
  }, []);

  // Follow the reply in flight; each event is saved so that a reload resumes from the last one.
  const liveJob = live?.reply.jobId;
  useEffect(() => {
    const start = liveRef.current;
    if (!start || start.reply.done || !conversationId) return;
    const follow = followReply(start.reply, (reply) => {
      setLive((l) => (l && l.reply.jobId === reply.jobId ? { ...l, reply } : l));
      pending.set(
        reply.done
          ? null
          : { conversationId, characterId: session.characterId, userText: start.userText, reply },
      );
      if (reply.done) finish(start.userText, reply);
    });
    return () => follow.close();
  }, [liveJob]);

  const finish = (userText: string, reply: ReplyState) => {
    const user: Msg = {
      key: `user-${reply.jobId}`,
      role: 'user',
      content: userText,
      jobId: reply.jobId,
      tts: null,
      autoplay: false,
    };
    const added: Msg[] =
      reply.phase === 'completed'
        ? [
            user,
            {
              key: `assistant-${reply.jobId}`,
              role: 'assistant',
              content: reply.text,
              jobId: reply.jobId,
              tts: reply.tts,
              autoplay: ttsChoice === 'realtime',
            },
          ]
        : [
            {
              ...user,
              unanswered: {
                phase: reply.phase === 'cancelled' ? 'cancelled' : 'failed',
                error: reply.error?.message ?? null,
              },
            },
          ];
    setMessages((m) => [...m, ...added]);
    setLive(null);
  };

  const send = async (
    message: string,
    opts: { fromComposer: boolean; replaces?: string },
    idemKey = newKey(),
  ) => {
    clearTimeout(waitTimer.current);
    setWait(null);
    setError(null);
    setSending(true);
    const body = {
      message,
      ...(conversationId ? { conversation_id: conversationId } : {}),
      ...(session.characterId ? { character_id: session.characterId } : {}),
      scenario: cleanScenario(scenario),
      tts: ttsChoice !== 'off',
      ...(ttsChoice === 'off' ? {} : { tts_mode: ttsChoice }),
    };
    try {
      // The same key on every retry: a submission that did get through is not queued twice.
      const acc = await api<Accepted>('POST', '/chat/jobs', {
        body,
        headers: { 'idempotency-key': idemKey },
        signal: AbortSignal.timeout(SUBMIT_TIMEOUT_MS),
      });
      setSending(false);
      if (opts.fromComposer) setText('');
      if (opts.replaces) setMessages((m) => m.filter((x) => x.key !== opts.replaces));
      setConversationId(acc.conversation_id);
      const reply = initialReply(acc.job_id);
      pending.set({
        conversationId: acc.conversation_id,
        characterId: session.characterId,
        userText: message,
        reply,
      });
      setLive({ userText: message, reply });
      onSaved({
        id: acc.conversation_id,
        title: message.slice(0, 60),
        characterId: session.characterId,
        characterName: session.characterName,
        scenario,
        updatedAt: Date.now(),
      });
    } catch (err) {
      if (err instanceof ApiError && waitable(err)) {
        const secs = Math.max(1, err.retryAfter ?? (err.offline ? 3 : 5));
        setWait({
          reason: err.status === 429 ? 'tooMany' : err.offline ? 'offline' : 'notReady',
          until: Date.now() + secs * 1000,
        });
        resend.current = () => void send(message, opts, idemKey);
        waitTimer.current = setTimeout(resend.current, secs * 1000);
        return;
      }
      setSending(false);
      setError(messageOf(err));
    }
  };

  const retryNow = () => resend.current?.();

  const stopWaiting = () => {
    clearTimeout(waitTimer.current);
    setWait(null);
    setSending(false);
  };

  const cancel = async () => {
    if (!live) return;
    try {
      await api('DELETE', `/chat/jobs/${encodeURIComponent(live.reply.jobId)}`);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return {
    messages,
    live,
    scenario,
    setScenario,
    text,
    setText,
    sending,
    wait,
    error,
    busy: sending || (live !== null && !live.reply.done),
    send,
    stopWaiting,
    retryNow,
    cancel,
    conversationId,
  };
}

function cleanScenario(s: Scenario): Scenario {
  const out: Scenario = {};
  for (const k of ['opponent', 'situation', 'background'] as const) if (s[k]?.trim()) out[k] = s[k].trim();
  return out;
}

/** Pure builders of the log's messages: the greeting, stored turns, and a turn that just ended. */
import type { ConversationMessage } from '@gateway/contracts';
import type { ReplyState } from '../reply-state.js';
import type { ChatSession, Msg } from './types.js';

const message = (m: Omit<Msg, 'tts' | 'autoplay'> & Partial<Msg>): Msg => ({
  tts: null,
  autoplay: false,
  ...m,
});

/** A new conversation opens with the character's greeting (the api stores it with the first turn). */
export const greetingOf = (s: ChatSession): Msg[] =>
  s.conversationId === null && s.character?.greeting
    ? [message({ key: 'greeting', role: 'assistant', content: s.character.greeting, jobId: null })]
    : [];

/**
 * A stored conversation's messages, each with its place in the stored list (the `index` of
 * `PUT /conversations/{id}/messages/{index}`) and its alternatives, minus the turn of `liveJob` (it is
 * shown live instead).
 */
export function storedMessages(stored: ConversationMessage[], liveJob: string | undefined): Msg[] {
  return stored.flatMap((m, index) =>
    liveJob && m.job_id === liveJob
      ? []
      : [
          message({
            key: `${m.role}-${m.job_id ?? `g${index}`}`,
            role: m.role,
            content: m.content,
            jobId: m.job_id,
            stored: { index, alternatives: m.alternatives, selected: m.selected },
          }),
        ],
  );
}

/**
 * The log after the stored conversation was read again: the stored messages in place of the page's, each
 * keeping the speech the page already follows (same key: same reply), then the page's own messages after
 * the last stored one that the api never had (a message whose reply failed). The page's greeting of a new
 * conversation gives way to the stored one.
 */
export function withStored(now: Msg[], stored: Msg[]): Msg[] {
  const old = new Map(now.map((m) => [m.key, m]));
  const merged = stored.map((s) => {
    const o = old.get(s.key);
    return o ? { ...s, tts: o.tts, autoplay: o.autoplay } : s;
  });
  const keys = new Set(stored.map((s) => s.key));
  const lastShared = now.findLastIndex((m) => keys.has(m.key));
  // A message read back before and missing now was replaced (another alternative of the same turn).
  const after = now
    .slice(lastShared + 1)
    .filter((m) => !m.stored && !(m.key === 'greeting' && stored.length > 0));
  return [...merged, ...after];
}

/** The messages a turn leaves once its reply ended: both, or the user's alone with why there is no reply. */
export function finishedTurn(userText: string, reply: ReplyState, autoplay: boolean): Msg[] {
  const assistant = finishedReply(reply, autoplay);
  const user = message({ key: `user-${reply.jobId}`, role: 'user', content: userText, jobId: reply.jobId });
  if (reply.phase !== 'completed') {
    const phase = reply.phase === 'cancelled' ? 'cancelled' : 'failed';
    return [{ ...user, unanswered: { phase, error: reply.error?.message ?? null } }];
  }
  return [user, assistant];
}

/** The reply of a finished job as a message (keyed like the live one, so it is the same element). */
export const finishedReply = (reply: ReplyState, autoplay: boolean): Msg =>
  message({
    key: `assistant-${reply.jobId}`,
    role: 'assistant',
    content: reply.text,
    jobId: reply.jobId,
    tts: reply.tts,
    autoplay,
  });

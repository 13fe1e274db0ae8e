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

/** A stored conversation's messages, minus the turn of `liveJob` (it is shown live instead). */
export function storedMessages(stored: ConversationMessage[], liveJob: string | undefined): Msg[] {
  return stored
    .filter((m) => !liveJob || m.job_id !== liveJob)
    .map((m, i) =>
      message({ key: `${m.role}-${m.job_id ?? `g${i}`}`, role: m.role, content: m.content, jobId: m.job_id }),
    );
}

/** The messages a turn leaves once its reply ended: both, or the user's alone with why there is no reply. */
export function finishedTurn(userText: string, reply: ReplyState, autoplay: boolean): Msg[] {
  const user = message({ key: `user-${reply.jobId}`, role: 'user', content: userText, jobId: reply.jobId });
  if (reply.phase !== 'completed') {
    const phase = reply.phase === 'cancelled' ? 'cancelled' : 'failed';
    return [{ ...user, unanswered: { phase, error: reply.error?.message ?? null } }];
  }
  const assistant = message({
    key: `assistant-${reply.jobId}`,
    role: 'assistant',
    content: reply.text,
    jobId: reply.jobId,
    tts: reply.tts,
    autoplay,
  });
  return [user, assistant];
}

import { useEffect, useState } from 'preact/hooks';
import { chatApi } from '../api.js';
import { messageOf } from '../ui.js';
import { greetingOf, storedMessages } from './turns.js';
import type { ChatSession, Msg } from './types.js';

/**
 * The finished messages of the log: the greeting of a new conversation, or the stored messages of a reopened
 * one, then each turn as it ends.
 */
export function useMessages(
  session: ChatSession,
  /** The job still streaming when the stored messages arrive: its turn is shown live, not twice. */
  liveJobId: () => string | undefined,
  onError: (message: string) => void,
) {
  const [messages, setMessages] = useState<Msg[]>(() => greetingOf(session));

  useEffect(() => {
    if (!session.conversationId) return;
    chatApi
      .conversation(session.conversationId)
      .then((c) => {
        const stored = storedMessages(c.messages, liveJobId());
        setMessages((now) => [...stored, ...now.filter((m) => !stored.some((s) => s.key === m.key))]);
      })
      .catch((err) => onError(messageOf(err)));
  }, []);

  return {
    messages,
    add: (added: Msg[]) => setMessages((m) => [...m, ...added]),
    remove: (key: string) => setMessages((m) => m.filter((x) => x.key !== key)),
  };
}

import { useEffect, useState } from 'preact/hooks';
import { conversationApi } from '../api.js';
import { messageOf } from '../ui.js';
import { greetingOf, storedMessages, withStored } from './turns.js';
import type { ChatSession, Msg } from './types.js';

/**
 * The finished messages of the log: the greeting of a new conversation, or the stored messages of a reopened
 * one, then each turn as it ends. After a turn, a regeneration or an edit, the stored conversation is read
 * again, which gives each message its stored place and alternatives.
 */
export function useMessages(
  session: ChatSession,
  /** The job still streaming when the stored messages arrive: its turn is shown live, not twice. */
  liveJobId: () => string | undefined,
  onError: (message: string) => void,
) {
  const [messages, setMessages] = useState<Msg[]>(() => greetingOf(session));

  const reload = async (conversationId: string) => {
    try {
      const c = await conversationApi.get(conversationId);
      const stored = storedMessages(c.messages, liveJobId());
      setMessages((now) => withStored(now, stored));
    } catch (err) {
      onError(messageOf(err));
    }
  };

  useEffect(() => {
    if (session.conversationId) void reload(session.conversationId);
  }, []);

  return {
    messages,
    reload,
    add: (added: Msg[]) => setMessages((m) => [...m, ...added]),
    remove: (key: string) => setMessages((m) => m.filter((x) => x.key !== key)),
    /** A regenerated reply in place of the last reply. */
    replaceLastReply: (next: Msg) =>
      setMessages((m) => {
        const at = m.findLastIndex((x) => x.role === 'assistant');
        return at < 0 ? [...m, next] : m.map((x, i) => (i === at ? next : x));
      }),
    /** The stored conversation as the api answered a change of it. */
    setStored: (stored: Msg[]) => setMessages((now) => withStored(now, stored)),
  };
}

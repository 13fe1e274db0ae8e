import { useEffect, useState } from 'preact/hooks';
import { type ConversationSummary, conversationApi } from '../api.js';

/**
 * The person's conversations as the api lists them (newest activity first), a page at a time, with rename
 * and delete. `refresh` reads the first page again (after a turn: the conversation moves to the top).
 */
export function useConversations(onError: (err: unknown) => void) {
  const [items, setItems] = useState<ConversationSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  const refresh = async () => {
    try {
      const page = await conversationApi.list(null);
      setItems(page.conversations);
      setNext(page.next_cursor);
    } catch (err) {
      setItems((i) => i ?? []);
      onError(err);
    }
  };
  useEffect(() => {
    void refresh();
  }, []);

  return {
    items,
    hasMore: next !== null,
    loadingMore,
    refresh,
    async more() {
      if (!next) return;
      setLoadingMore(true);
      try {
        const page = await conversationApi.list(next);
        // A conversation that moved to the top between pages is listed once.
        setItems((i) => {
          const seen = new Set((i ?? []).map((c) => c.conversation_id));
          return [...(i ?? []), ...page.conversations.filter((c) => !seen.has(c.conversation_id))];
        });
        setNext(page.next_cursor);
      } catch (err) {
        onError(err);
      } finally {
        setLoadingMore(false);
      }
    },
    async rename(id: string, title: string): Promise<void> {
      await conversationApi.rename(id, title);
      // A rename counts as activity: the api lists the conversation first now.
      await refresh();
    },
    async remove(id: string): Promise<void> {
      await conversationApi.remove(id);
      setItems((i) => i?.filter((c) => c.conversation_id !== id) ?? null);
    },
  };
}

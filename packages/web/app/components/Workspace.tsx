import { useEffect, useState } from 'preact/hooks';
import {
  type Character,
  type ConversationSummary,
  characterApi,
  conversationApi,
  type UserView,
} from '../api.js';
import type { ChatSession } from '../chat/types.js';
import { useConversations } from '../chat/use-conversations.js';
import { openConversation, pending, scenarios } from '../store.js';
import { messageOf, newKey, useT } from '../ui.js';
import { Characters } from './Characters.js';
import { Chat } from './Chat.js';
import { Conversations } from './Conversations.js';

/** The title a new conversation gets from its first message (the person can rename it). */
const TITLE_CHARS = 60;

export function Workspace({ user }: { user: UserView }) {
  const t = useT();
  const [chars, setChars] = useState<Character[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const showError = (err: unknown) => setLoadError(t('genericError', { message: messageOf(err) }));
  const convs = useConversations(showError);
  const [session, setSession] = useState<ChatSession | null>(null);
  // The conversation on screen, also once a new chat's first message made one.
  const [openId, setOpenId] = useState<string | null>(null);
  // On a phone only one pane fits: the lists or the chat.
  const [view, setView] = useState<'list' | 'chat'>('list');

  useEffect(() => {
    characterApi
      .list()
      .then(setChars)
      .catch((err) => {
        setChars([]);
        showError(err);
      });
  }, [t]);

  const characterName = (id: string | null) => chars?.find((c) => c.id === id)?.name ?? '';

  const open = (id: string, characterId: string | null, list: Character[]) => {
    const character = list.find((x) => x.id === characterId) ?? null;
    openConversation.set(id);
    setOpenId(id);
    setSession({
      key: newKey(),
      character,
      characterId,
      characterName: character?.name ?? '',
      conversationId: id,
      scenario: scenarios.get(user.id, id) ?? {},
    });
    setView('chat');
  };

  // After a reload: the reply in flight first, else the conversation that was open.
  useEffect(() => {
    if (chars === null || convs.items === null || session) return;
    const p = pending.get();
    const id = p?.conversationId ?? openConversation.get();
    if (!id) return;
    const listed = convs.items.find((c) => c.conversation_id === id);
    if (listed) open(id, listed.character_id, chars);
    else if (p) open(id, p.characterId, chars);
    else {
      // Further down the list than the first page (or gone: then nothing is opened).
      conversationApi
        .get(id)
        .then((c) => open(id, c.character_id, chars))
        .catch(() => openConversation.set(null));
    }
  }, [chars, convs.items === null]);

  const startWith = (c: Character) => {
    openConversation.set(null);
    setOpenId(null);
    setSession({
      key: newKey(),
      character: c,
      characterId: c.id,
      characterName: c.name,
      conversationId: null,
      scenario: {},
    });
    setView('chat');
  };

  const removed = (id: string) => {
    scenarios.remove(user.id, id);
    if (pending.get()?.conversationId === id) pending.set(null);
    if (openId === id) {
      openConversation.set(null);
      setOpenId(null);
      setSession(null);
      setView('list');
    }
  };

  return (
    <div class="workspace" data-view={view}>
      <aside class="sidebar" aria-label={t('characters')}>
        {loadError && (
          <p class="error" role="alert">
            {loadError}
          </p>
        )}
        <Characters
          chars={chars}
          selectedId={session?.characterId ?? null}
          onChange={setChars}
          onChat={startWith}
        />
        <Conversations
          list={convs}
          characterName={characterName}
          openId={openId}
          onOpen={(c: ConversationSummary) => open(c.conversation_id, c.character_id, chars ?? [])}
          onRemoved={removed}
        />
      </aside>
      <main class="chat-pane">
        {session ? (
          <Chat
            key={session.key}
            session={session}
            onBack={() => setView('list')}
            onNew={() => session.character && startWith(session.character)}
            events={{
              onTurn: ({ id, scenario, firstMessage }) => {
                openConversation.set(id);
                setOpenId(id);
                scenarios.set(user.id, id, scenario);
                // A new conversation is named after its first message; the list shows it at once.
                const named = firstMessage
                  ? conversationApi.rename(id, firstMessage.slice(0, TITLE_CHARS)).catch(() => null)
                  : Promise.resolve();
                void named.then(convs.refresh);
              },
              onChanged: () => void convs.refresh(),
            }}
          />
        ) : (
          <p class="empty">{t('pickCharacter')}</p>
        )}
      </main>
    </div>
  );
}

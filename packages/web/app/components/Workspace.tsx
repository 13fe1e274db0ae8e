import { useEffect, useState } from 'preact/hooks';
import { type Character, characterApi, type UserView } from '../api.js';
import type { ChatSession } from '../chat/types.js';
import { conversations, openConversation, pending, type SavedConversation } from '../store.js';
import { messageOf, newKey, useT } from '../ui.js';
import { Characters } from './Characters.js';
import { Chat } from './Chat.js';

export function Workspace({ user }: { user: UserView }) {
  const t = useT();
  const [chars, setChars] = useState<Character[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [convs, setConvs] = useState<SavedConversation[]>(() => conversations.list(user.id));
  const [session, setSession] = useState<ChatSession | null>(null);
  // On a phone only one pane fits: the lists or the chat.
  const [view, setView] = useState<'list' | 'chat'>('list');

  useEffect(() => {
    characterApi
      .list()
      .then(setChars)
      .catch((err) => {
        setChars([]);
        setLoadError(t('genericError', { message: messageOf(err) }));
      });
  }, [t]);

  const openSaved = (c: SavedConversation, list: Character[]) => {
    const character = list.find((x) => x.id === c.characterId) ?? null;
    openConversation.set(c.id);
    setSession({
      key: newKey(),
      character,
      characterId: c.characterId,
      characterName: character?.name ?? c.characterName,
      conversationId: c.id,
      scenario: c.scenario,
    });
    setView('chat');
  };

  // After a reload: the reply in flight first, else the conversation that was open.
  useEffect(() => {
    if (chars === null || session) return;
    const p = pending.get();
    const id = p?.conversationId ?? openConversation.get();
    const saved = convs.find((c) => c.id === id);
    if (saved) openSaved(saved, chars);
    else if (p) {
      openSaved(
        {
          id: p.conversationId,
          title: '',
          characterId: p.characterId,
          characterName: '',
          scenario: {},
          updatedAt: 0,
        },
        chars,
      );
    }
  }, [chars]);

  const startWith = (c: Character) => {
    openConversation.set(null);
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
        <section class="panel" aria-labelledby="conv-title">
          <h2 id="conv-title">{t('conversations')}</h2>
          {convs.length === 0 ? (
            <p class="muted">{t('noConversations')}</p>
          ) : (
            <ul class="list">
              {convs.map((c) => (
                <li key={c.id}>
                  <button
                    type="button"
                    class="list-item"
                    aria-current={session?.conversationId === c.id ? 'true' : undefined}
                    onClick={() => openSaved(c, chars ?? [])}
                  >
                    <span class="item-title">{c.title}</span>
                    <span class="item-sub">
                      {c.characterName} · {new Date(c.updatedAt).toLocaleString()}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      </aside>
      <main class="chat-pane">
        {session ? (
          <Chat
            key={session.key}
            session={session}
            onBack={() => setView('list')}
            onNew={() => session.character && startWith(session.character)}
            onSaved={(c) => {
              openConversation.set(c.id);
              // A conversation keeps the title of its first message.
              const title = convs.find((x) => x.id === c.id)?.title || c.title;
              setConvs(conversations.upsert(user.id, { ...c, title }));
            }}
          />
        ) : (
          <p class="empty">{t('pickCharacter')}</p>
        )}
      </main>
    </div>
  );
}

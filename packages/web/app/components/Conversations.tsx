import { useState } from 'preact/hooks';
import { type ConversationSummary, isBusy } from '../api.js';
import type { useConversations } from '../chat/use-conversations.js';
import { messageOf, useT } from '../ui.js';

interface Props {
  list: ReturnType<typeof useConversations>;
  /** The name of a conversation's character ('' when it is gone). */
  characterName: (id: string | null) => string;
  openId: string | null;
  onOpen: (c: ConversationSummary) => void;
  onRemoved: (id: string) => void;
}

/** Past conversations: open one, rename it, delete it (with its jobs and audio), load older ones. */
export function Conversations({ list, characterName, openId, onOpen, onRemoved }: Props) {
  const t = useT();
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const titleOf = (c: ConversationSummary) => c.title || characterName(c.character_id) || t('untitled');

  const act = async (run: () => Promise<void>) => {
    setNote(null);
    try {
      await run();
      return true;
    } catch (err) {
      setNote(isBusy(err) ? t('conversationBusy') : t('genericError', { message: messageOf(err) }));
      return false;
    }
  };

  return (
    <section class="panel" aria-labelledby="conv-title">
      <h2 id="conv-title">{t('conversations')}</h2>
      {list.items === null ? (
        <p class="muted">{t('loading')}</p>
      ) : list.items.length === 0 ? (
        <p class="muted">{t('noConversations')}</p>
      ) : (
        <ul class="list">
          {list.items.map((c) => {
            const title = titleOf(c);
            const id = c.conversation_id;
            return (
              <li key={id} class="char-row conv-row">
                {renaming === id ? (
                  <RenameForm
                    title={c.title ?? ''}
                    onCancel={() => setRenaming(null)}
                    onSave={async (next) => {
                      if (await act(() => list.rename(id, next))) setRenaming(null);
                    }}
                  />
                ) : (
                  <button
                    type="button"
                    class="list-item"
                    aria-current={openId === id ? 'true' : undefined}
                    onClick={() => onOpen(c)}
                  >
                    <span class="item-title">{title}</span>
                    <span class="item-sub">
                      {[characterName(c.character_id), new Date(c.updated_at).toLocaleString()]
                        .filter(Boolean)
                        .join(' · ')}
                    </span>
                    {c.last_message && <span class="item-sub">{c.last_message}</span>}
                  </button>
                )}
                {confirming === id ? (
                  <span class="confirm">
                    <button
                      type="button"
                      class="danger small"
                      aria-label={t('confirmDeleteConversation', { name: title })}
                      onClick={async () => {
                        setConfirming(null);
                        if (await act(() => list.remove(id))) onRemoved(id);
                      }}
                    >
                      {t('delete')}
                    </button>
                    <button type="button" class="small" onClick={() => setConfirming(null)}>
                      {t('cancel')}
                    </button>
                  </span>
                ) : (
                  renaming !== id && (
                    <span class="row-actions">
                      <button
                        type="button"
                        class="small"
                        aria-label={t('renameConversation', { name: title })}
                        onClick={() => setRenaming(id)}
                      >
                        {t('rename')}
                      </button>
                      <button
                        type="button"
                        class="small"
                        aria-label={t('deleteConversation', { name: title })}
                        onClick={() => setConfirming(id)}
                      >
                        {t('delete')}
                      </button>
                    </span>
                  )
                )}
              </li>
            );
          })}
        </ul>
      )}
      {list.hasMore && (
        <button type="button" class="small" disabled={list.loadingMore} onClick={() => void list.more()}>
          {t('olderConversations')}
        </button>
      )}
      {note && (
        <p class="error" role="alert">
          {note}
        </p>
      )}
    </section>
  );
}

function RenameForm({
  title,
  onSave,
  onCancel,
}: {
  title: string;
  onSave: (title: string) => Promise<void>;
  onCancel: () => void;
}) {
  const t = useT();
  const [value, setValue] = useState(title);
  return (
    <form
      class="rename"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) void onSave(value.trim());
      }}
    >
      <label for="conv-rename">{t('conversationTitle')}</label>
      <input
        id="conv-rename"
        required
        maxLength={200}
        value={value}
        // biome-ignore lint/a11y/noAutofocus: the person just asked to rename this conversation.
        autoFocus
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onCancel();
        }}
      />
      <div class="row">
        <button type="submit" class="primary small">
          {t('save')}
        </button>
        <button type="button" class="small" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

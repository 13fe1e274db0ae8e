import { useState } from 'preact/hooks';
import { ApiError, type Character, characterApi } from '../api.js';
import { messageOf, useT } from '../ui.js';
import { CharacterForm } from './CharacterForm.js';

interface Props {
  chars: Character[] | null;
  selectedId: string | null;
  onChange: (chars: Character[]) => void;
  onChat: (c: Character) => void;
}

export function Characters({ chars, selectedId, onChange, onChat }: Props) {
  const t = useT();
  // null: the list; 'new': an empty form; a character: its form.
  const [editing, setEditing] = useState<Character | 'new' | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [note, setNote] = useState<{ text: string; error: boolean } | null>(null);
  const list = chars ?? [];

  const remove = async (c: Character) => {
    setConfirming(null);
    try {
      await characterApi.remove(c.id);
      onChange(list.filter((x) => x.id !== c.id));
    } catch (err) {
      setNote({ text: t('genericError', { message: messageOf(err) }), error: true });
    }
  };

  const importFile = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (!file) return;
    setNote(null);
    try {
      // The api reads the card (PNG text chunks or JSON) and says what is wrong with it.
      const created = await characterApi.importFile(file);
      onChange([...list, created]);
      setNote({ text: t('imported', { name: created.name }), error: false });
    } catch (err) {
      const invalid = err instanceof ApiError && [400, 413, 415, 422].includes(err.status);
      setNote({
        text: invalid
          ? t('badCard', { message: messageOf(err) })
          : t('genericError', { message: messageOf(err) }),
        error: true,
      });
    } finally {
      // The same file can be picked again after a fix.
      input.value = '';
    }
  };

  if (editing) {
    return (
      <CharacterForm
        character={editing === 'new' ? null : editing}
        onCancel={() => setEditing(null)}
        onSaved={(c) => {
          onChange(list.some((x) => x.id === c.id) ? list.map((x) => (x.id === c.id ? c : x)) : [...list, c]);
          setEditing(null);
        }}
      />
    );
  }

  return (
    <section class="panel" aria-labelledby="chars-title">
      <div class="panel-head">
        <h2 id="chars-title">{t('characters')}</h2>
        <button type="button" class="primary small" onClick={() => setEditing('new')}>
          {t('newCharacter')}
        </button>
      </div>
      {chars === null ? (
        <p class="muted">{t('loading')}</p>
      ) : list.length === 0 ? (
        <p class="muted">{t('noCharacters')}</p>
      ) : (
        <ul class="list">
          {list.map((c) => (
            <li key={c.id} class="char-row">
              <button
                type="button"
                class="list-item"
                aria-current={selectedId === c.id ? 'true' : undefined}
                onClick={() => onChat(c)}
              >
                <span class="item-title">{c.name}</span>
                {c.persona && <span class="item-sub">{c.persona}</span>}
                {c.lorebook_entries > 0 && (
                  <span class="item-sub">{t('lorebookEntries', { n: c.lorebook_entries })}</span>
                )}
              </button>
              {confirming === c.id ? (
                <span class="confirm">
                  <button
                    type="button"
                    class="danger small"
                    aria-label={t('confirmDelete', { name: c.name })}
                    onClick={() => void remove(c)}
                  >
                    {t('delete')}
                  </button>
                  <button type="button" class="small" onClick={() => setConfirming(null)}>
                    {t('cancel')}
                  </button>
                </span>
              ) : (
                <span class="row-actions">
                  <button
                    type="button"
                    class="small"
                    aria-label={t('editCharacter', { name: c.name })}
                    onClick={() => setEditing(c)}
                  >
                    {t('edit')}
                  </button>
                  <button
                    type="button"
                    class="small"
                    aria-label={t('deleteCharacter', { name: c.name })}
                    onClick={() => setConfirming(c.id)}
                  >
                    {t('delete')}
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      <div class="import">
        <label for="card-file">{t('importCard')}</label>
        <input
          id="card-file"
          type="file"
          accept=".json,.png,application/json,image/png"
          onChange={(e) => void importFile(e.currentTarget)}
        />
      </div>
      {note && (
        <p class={note.error ? 'error' : 'note'} role={note.error ? 'alert' : 'status'}>
          {note.text}
        </p>
      )}
    </section>
  );
}

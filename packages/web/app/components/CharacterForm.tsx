import { useState } from 'preact/hooks';
import { type Character, characterApi } from '../api.js';
import { messageOf, useT } from '../ui.js';

interface Props {
  character: Character | null;
  onSaved: (c: Character) => void;
  onCancel: () => void;
}

export function CharacterForm({ character, onSaved, onCancel }: Props) {
  const t = useT();
  const [name, setName] = useState(character?.name ?? '');
  const [persona, setPersona] = useState(character?.persona ?? '');
  const [voice, setVoice] = useState(character?.voice_id ?? '');
  const [greeting, setGreeting] = useState(character?.greeting ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const title = character ? t('editCharacter', { name: character.name }) : t('newCharacter');

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    // An empty voice field stores no voice (null): the speech engine's default is used.
    const body = { name: name.trim(), persona, greeting, voice_id: voice.trim() || null };
    try {
      onSaved(character ? await characterApi.update(character.id, body) : await characterApi.create(body));
    } catch (err) {
      setError(t('genericError', { message: messageOf(err) }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel char-form" aria-labelledby="char-form-title" onSubmit={save}>
      <h2 id="char-form-title">{title}</h2>
      <label for="char-name">{t('name')}</label>
      <input
        id="char-name"
        required
        maxLength={200}
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <label for="char-persona">{t('persona')}</label>
      <textarea
        id="char-persona"
        rows={5}
        value={persona}
        onInput={(e) => setPersona(e.currentTarget.value)}
      />
      <label for="char-voice">{t('voice')}</label>
      <input
        id="char-voice"
        list="voice-options"
        aria-describedby="char-voice-hint"
        value={voice}
        onInput={(e) => setVoice(e.currentTarget.value)}
      />
      <datalist id="voice-options">
        <option value="ko" />
        <option value="en" />
        <option value="ja" />
      </datalist>
      <p id="char-voice-hint" class="hint">
        {t('voiceHint')}
      </p>
      <label for="char-greeting">{t('greeting')}</label>
      <textarea
        id="char-greeting"
        rows={3}
        value={greeting}
        onInput={(e) => setGreeting(e.currentTarget.value)}
      />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          {t('save')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

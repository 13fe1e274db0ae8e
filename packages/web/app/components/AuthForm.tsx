import { useState } from 'preact/hooks';
import { ApiError, authApi, fieldErrors, type UserView } from '../api.js';
import type { Translate } from '../i18n.js';
import { messageOf, useT } from '../ui.js';

type Action = 'login' | 'register' | 'guest';

function errorText(t: Translate, action: Action, err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401 && action === 'login') return t('wrongLogin');
    if (err.status === 409) return t('usernameTaken');
    if (err.status === 429) return t('tooMany', { s: err.retryAfter ?? 5 });
    if (err.offline || err.status === 503) return t('notReady', { s: err.retryAfter ?? 5 });
    const details = fieldErrors(err)
      .map((d) => `${d.field.replace(/^body\./, '')} ${d.message}`.trim())
      .join('; ');
    return t('genericError', { message: details || err.message });
  }
  return t('genericError', { message: messageOf(err) });
}

export function AuthForm({ onUser, notice }: { onUser: (u: UserView) => void; notice: string | null }) {
  const t = useT();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (action: Action) => {
    setBusy(true);
    setError(null);
    try {
      const creds = { username: username.trim(), password };
      const session = await (action === 'guest' ? authApi.guest() : authApi[action](creds));
      onUser(session.user);
    } catch (err) {
      setError(errorText(t, action, err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="centered">
      <form
        class="card auth"
        aria-labelledby="auth-title"
        onSubmit={(e) => {
          e.preventDefault();
          void run('login');
        }}
      >
        <h2 id="auth-title">{t('signInTitle')}</h2>
        {notice && <p class="note">{notice}</p>}
        <label for="auth-username">{t('username')}</label>
        <input
          id="auth-username"
          name="username"
          autocomplete="username"
          required
          maxLength={64}
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="auth-password">{t('password')}</label>
        <input
          id="auth-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {t('logIn')}
          </button>
          <button
            type="button"
            disabled={busy}
            onClick={(e) => {
              // Same checks as the form's own submit: both fields are required to register.
              if (e.currentTarget.form?.reportValidity()) void run('register');
            }}
          >
            {t('register')}
          </button>
        </div>
        <p class="divider">
          <span>{t('or')}</span>
        </p>
        <button type="button" class="guest" disabled={busy} onClick={() => void run('guest')}>
          {t('continueAsGuest')}
        </button>
      </form>
    </main>
  );
}

import { useEffect, useMemo, useState } from 'preact/hooks';
import { authApi, UNAUTHORIZED, type UserView } from '../api.js';
import { type Lang, pickLang, translator } from '../i18n.js';
import { openConversation, pending, prefs } from '../store.js';
import { I18n } from '../ui.js';
import { AuthForm } from './AuthForm.js';
import { Workspace } from './Workspace.js';

export function App() {
  const [lang, setLang] = useState<Lang>(() =>
    pickLang(prefs.lang(), navigator.languages?.length ? navigator.languages : [navigator.language]),
  );
  const t = useMemo(() => translator(lang), [lang]);
  // undefined: still asking the api who we are.
  const [user, setUser] = useState<UserView | null | undefined>(undefined);
  const [sessionEnded, setSessionEnded] = useState(false);

  useEffect(() => {
    document.documentElement.lang = lang;
    document.title = t('appTitle');
  }, [lang, t]);

  useEffect(() => {
    authApi
      .me()
      .then((b) => setUser(b.user))
      .catch(() => setUser(null));
    const onUnauthorized = () => {
      setSessionEnded(true);
      setUser(null);
    };
    window.addEventListener(UNAUTHORIZED, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED, onUnauthorized);
  }, []);

  const switchLang = () => {
    const next = lang === 'ko' ? 'en' : 'ko';
    prefs.setLang(next);
    setLang(next);
  };

  const logOut = async () => {
    await authApi.logout().catch(() => {});
    pending.set(null);
    openConversation.set(null);
    setSessionEnded(false);
    setUser(null);
  };

  return (
    <I18n.Provider value={t}>
      <div class="app">
        <header class="topbar">
          <h1 class="brand">{t('appTitle')}</h1>
          <div class="topbar-actions">
            {user && (
              <span class="who">{t('signedInAs', { name: user.guest ? t('guest') : user.username })}</span>
            )}
            <button
              type="button"
              class="ghost"
              onClick={switchLang}
              lang={lang === 'ko' ? 'en' : 'ko'}
              aria-label={`${t('language')}: ${t('switchLanguage')}`}
            >
              {t('switchLanguage')}
            </button>
            {user && (
              <button type="button" class="ghost" onClick={logOut}>
                {t('logOut')}
              </button>
            )}
          </div>
        </header>
        {user === undefined ? (
          <main class="centered">
            <p role="status">{t('loading')}</p>
          </main>
        ) : user === null ? (
          <AuthForm
            notice={sessionEnded ? t('sessionEnded') : null}
            onUser={(u) => {
              setSessionEnded(false);
              setUser(u);
            }}
          />
        ) : (
          <Workspace key={user.id} user={user} />
        )}
      </div>
    </I18n.Provider>
  );
}

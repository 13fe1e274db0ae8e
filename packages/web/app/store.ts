/**
 * What the page keeps in the browser: the list of past conversations (localStorage, per user), the reply
 * in flight and the unsent draft (sessionStorage: this tab only, kept across a reload).
 */
import type { Scenario } from './api.js';
import type { ReplyState } from './reply-state.js';

export interface SavedConversation {
  id: string;
  title: string;
  characterId: string | null;
  characterName: string;
  scenario: Scenario;
  updatedAt: number;
}

/** The reply in flight, enough to redraw it and resume its stream after a reload. */
export interface PendingReply {
  conversationId: string;
  characterId: string | null;
  userText: string;
  reply: ReplyState;
}

export type TtsChoice = 'realtime' | 'on_click' | 'off';

const MAX_CONVERSATIONS = 50;

function read<T>(storage: Storage, key: string): T | null {
  try {
    const raw = storage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function write(storage: Storage, key: string, value: unknown): void {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled (private mode): the page still works, it only forgets on reload.
  }
}

const convKey = (userId: string) => `rp.conversations.${userId}`;

export const conversations = {
  list(userId: string): SavedConversation[] {
    return read<SavedConversation[]>(localStorage, convKey(userId)) ?? [];
  },
  upsert(userId: string, c: SavedConversation): SavedConversation[] {
    const rest = conversations.list(userId).filter((x) => x.id !== c.id);
    const next = [c, ...rest].slice(0, MAX_CONVERSATIONS);
    write(localStorage, convKey(userId), next);
    return next;
  },
  remove(userId: string, id: string): SavedConversation[] {
    const next = conversations.list(userId).filter((x) => x.id !== id);
    write(localStorage, convKey(userId), next);
    return next;
  },
};

export const pending = {
  get: (): PendingReply | null => read<PendingReply>(sessionStorage, 'rp.pending'),
  set: (p: PendingReply | null) => write(sessionStorage, 'rp.pending', p),
};

export const draft = {
  get: (): string => read<string>(sessionStorage, 'rp.draft') ?? '',
  set: (text: string) => write(sessionStorage, 'rp.draft', text || null),
};

/** The conversation on screen, so that a reload shows it again. */
export const openConversation = {
  get: (): string | null => read<string>(sessionStorage, 'rp.open'),
  set: (id: string | null) => write(sessionStorage, 'rp.open', id),
};

export const prefs = {
  lang: (): string | null => read<string>(localStorage, 'rp.lang'),
  setLang: (lang: string) => write(localStorage, 'rp.lang', lang),
  tts: (): TtsChoice => {
    const v = read<string>(localStorage, 'rp.tts');
    return v === 'on_click' || v === 'off' ? v : 'realtime';
  },
  setTts: (v: TtsChoice) => write(localStorage, 'rp.tts', v),
};

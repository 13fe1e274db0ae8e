/**
 * What the page keeps in the browser: each conversation's scenario and the sampling settings
 * (localStorage), the reply in flight and the unsent draft (sessionStorage: this tab only, kept across a
 * reload). The list of conversations itself is the api's (`GET /conversations`).
 */
import type { Scenario } from './api.js';
import type { ReplyState } from './reply-state.js';
import type { SamplingValues } from './sampling.js';

/** The reply in flight, enough to redraw it and resume its stream after a reload. */
export interface PendingReply {
  conversationId: string;
  characterId: string | null;
  userText: string;
  reply: ReplyState;
  /** The job generates the last reply again (no new message of the person's). */
  regenerate?: boolean;
}

export type TtsChoice = 'realtime' | 'on_click' | 'off';

/** Conversations whose scenario is remembered; the oldest is forgotten first. */
const MAX_SCENARIOS = 100;

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

const scenarioKey = (userId: string) => `rp.scenarios.${userId}`;

/**
 * The scenario each conversation was last sent with: the api keeps it inside the turn's job, which the
 * page cannot read back, and every turn sends it again.
 */
export const scenarios = {
  get(userId: string, id: string): Scenario | null {
    return read<Record<string, Scenario>>(localStorage, scenarioKey(userId))?.[id] ?? null;
  },
  set(userId: string, id: string, s: Scenario): void {
    const all = read<Record<string, Scenario>>(localStorage, scenarioKey(userId)) ?? {};
    delete all[id];
    const kept = Object.entries(all).slice(-(MAX_SCENARIOS - 1));
    write(localStorage, scenarioKey(userId), Object.fromEntries([...kept, [id, s]]));
  },
  remove(userId: string, id: string): void {
    const all = read<Record<string, Scenario>>(localStorage, scenarioKey(userId)) ?? {};
    delete all[id];
    write(localStorage, scenarioKey(userId), all);
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
  sampling: (): SamplingValues => read<SamplingValues>(localStorage, 'rp.sampling') ?? {},
  setSampling: (v: SamplingValues) => write(localStorage, 'rp.sampling', v),
};

/**
 * Every call the page makes to the gateway (same origin, session cookie), typed with the api's own
 * contracts. The imports from `@gateway/contracts` are type-only: they leave no zod in the bundle
 * (test/web/web-route.test.ts checks). Components take the contract types from here; the pure modules
 * (reply-state, chat/types, chat/turns) import them from the contracts directly, since Node tests load
 * them and this module needs the DOM.
 */
import type {
  Character,
  CharacterInput,
  CharacterList,
  CharacterPatch,
  ChatJobAccepted,
  ChatJobRequest,
  ChatJobView,
  ConversationView,
  Credentials,
  ErrorBody,
  SessionView,
  TtsInfo,
} from '@gateway/contracts';

export type {
  Character,
  ChatJobRequest,
  ChatJobView,
  ConversationMessage,
  JobErrorInfo,
  JobEvent,
  Scenario,
  TtsInfo,
  UserView,
} from '@gateway/contracts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds to wait, from `Retry-After` (429 / 503). */
    readonly retryAfter: number | null,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** True when the request never got an answer (server unreachable). */
  get offline(): boolean {
    return this.status === 0;
  }
}

export const UNAUTHORIZED = 'rp-unauthorized';

interface CallOptions {
  body?: unknown;
  /** A file sent as it is (a PNG card), with its own content type, instead of a JSON body. */
  raw?: { type: string; data: Blob };
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.raw) headers['content-type'] = opts.raw.type;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.raw ? opts.raw.data : opts.body === undefined ? null : JSON.stringify(opts.body),
      signal: opts.signal ?? null,
    });
  } catch (err) {
    // A timeout counts as "no answer" (sent again later); an abort by the page itself does not.
    if (opts.signal?.aborted && (opts.signal.reason as Error | undefined)?.name !== 'TimeoutError') throw err;
    throw new ApiError(0, 'offline', err instanceof Error ? err.message : 'network error', null);
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.ok) return body as T;
  // The session ended (expired, logged out elsewhere): the app shows the login form again.
  if (res.status === 401 && !path.startsWith('/auth/')) window.dispatchEvent(new Event(UNAUTHORIZED));
  // Any error answer of the api is an ErrorBody; a proxy in front may answer with something else.
  const err = (body as Partial<ErrorBody> | null)?.error;
  throw new ApiError(
    res.status,
    err?.code ?? `http_${res.status}`,
    err?.message ?? (res.statusText || `HTTP ${res.status}`),
    retryAfterOf(res.headers.get('retry-after')),
    err?.details ?? null,
  );
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date. */
export function retryAfterOf(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, Math.ceil(secs));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Statuses where the same request should simply be sent again after a wait. */
export const waitable = (e: ApiError) => e.offline || e.status === 429 || e.status === 503;

/** The field errors of a 400 answer (`details` of `invalid_input`), as the api's error handler writes them. */
export function fieldErrors(err: ApiError): { field: string; message: string }[] {
  return Array.isArray(err.details) ? (err.details as { field: string; message: string }[]) : [];
}

const seg = encodeURIComponent;

type LoginBody = Pick<Credentials, 'username' | 'password'>;

// Auth (API.md "Auth"): every login answers a SessionView; /auth/me answers `{user}`.
export const authApi = {
  me: () => call<Pick<SessionView, 'user'>>('GET', '/auth/me'),
  login: (body: LoginBody) => call<SessionView>('POST', '/auth/login', { body }),
  register: (body: LoginBody) => call<SessionView>('POST', '/auth/register', { body }),
  guest: () => call<SessionView>('POST', '/auth/guest'),
  logout: () => call<null>('POST', '/auth/logout'),
};

// Characters: the list is wrapped (`{characters}`), a single character is bare.
export const characterApi = {
  list: async (): Promise<Character[]> => (await call<CharacterList>('GET', '/characters')).characters,
  /** The fields the api fills in by default (greetings, lorebook) may be left out. */
  create: (body: Partial<CharacterInput> & Pick<CharacterInput, 'name'>) =>
    call<Character>('POST', '/characters', { body }),
  update: (id: string, body: CharacterPatch) => call<Character>('PATCH', `/characters/${seg(id)}`, { body }),
  /**
   * A SillyTavern card file as it is: the api reads the PNG's text chunks or the JSON (V1, V2, V3) and
   * checks its shape, so the page never parses a card itself.
   */
  importFile: async (file: Blob) => {
    const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
    const png = PNG_SIGNATURE.every((b, i) => head[i] === b);
    return call<Character>('POST', '/characters/import', {
      raw: { type: png ? 'image/png' : 'application/json', data: file },
    });
  },
  remove: (id: string) => call<null>('DELETE', `/characters/${seg(id)}`),
};

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** One entry of `GET /conversations` (services/api/src/routes/conversations.ts). */
export interface ConversationSummary {
  conversation_id: string;
  character_id: string | null;
  title: string | null;
  updated_at: string;
  last_message: string | null;
}

export interface ConversationPage {
  conversations: ConversationSummary[];
  next_cursor: string | null;
}

/** The job fields a regeneration may set (the request's, minus which turn and character it is). */
export type RegenerateBody = Omit<
  ChatJobRequest,
  'message' | 'conversation_id' | 'character_id' | 'character_name' | 'greeting'
>;

const convPath = (id: string) => `/conversations/${seg(id)}`;

// The caller's stored conversations. A change while a turn of the conversation is queued or running
// answers 409 `conversation_busy`.
export const conversationApi = {
  list: (cursor: string | null, limit = 20) =>
    call<ConversationPage>('GET', `/conversations?limit=${limit}${cursor ? `&cursor=${seg(cursor)}` : ''}`),
  get: (id: string) => call<ConversationView>('GET', convPath(id)),
  rename: (id: string, title: string) => call<ConversationView>('PATCH', convPath(id), { body: { title } }),
  remove: (id: string) => call<null>('DELETE', convPath(id)),
  /** The last reply again, as a new job followed like any turn; the earlier text stays an alternative. */
  regenerate: (id: string, body: RegenerateBody) =>
    call<ChatJobAccepted>('POST', `${convPath(id)}/regenerate`, { body }),
  /** Selects alternative `selected` of message `index` and/or replaces its text. */
  editMessage: (id: string, index: number, edit: { selected?: number; content?: string }) =>
    call<ConversationView>('PUT', `${convPath(id)}/messages/${index}`, { body: edit }),
};

/** The api refused a change because a turn of the conversation is still queued or running. */
export const isBusy = (err: unknown) => err instanceof ApiError && err.code === 'conversation_busy';

const jobPath = (jobId: string) => `/chat/jobs/${seg(jobId)}`;

// Chat jobs, their events and speech.
export const chatApi = {
  /** The same idempotency key on every retry: a submission that did get through is not queued twice. */
  submit: (body: ChatJobRequest, idempotencyKey: string, signal?: AbortSignal) =>
    call<ChatJobAccepted>('POST', '/chat/jobs', {
      body,
      headers: { 'idempotency-key': idempotencyKey },
      ...(signal ? { signal } : {}),
    }),
  job: (jobId: string) => call<ChatJobView>('GET', jobPath(jobId)),
  cancel: (jobId: string) => call<ChatJobView>('DELETE', jobPath(jobId)),
  /** Makes the speech of a finished reply now (`on_click`, or again after a failure). */
  speak: (jobId: string) => call<{ job_id: string; tts: TtsInfo }>('POST', `${jobPath(jobId)}/tts`),
  eventsUrl(jobId: string, lastEventId: string | null): string {
    // EventSource cannot set Last-Event-ID on its first connection; the api accepts it as a query parameter.
    const base = `${jobPath(jobId)}/events`;
    return lastEventId ? `${base}?last_event_id=${seg(lastEventId)}` : base;
  },
  audioUrl: (jobId: string) => `${jobPath(jobId)}/audio`,
};

/** JSON calls to the gateway from the page (same origin, session cookie). */

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

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function api<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
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
  const err = (body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
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

export interface User {
  id: string;
  username: string;
  guest?: boolean;
}

export interface Character {
  id: string;
  name: string;
  persona: string;
  voice_id: string | null;
  greeting: string | null;
}

export interface Scenario {
  opponent?: string;
  situation?: string;
  background?: string;
}

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: string;
  job_id: string | null;
  created_at: string;
}

/** Lists may come bare or wrapped (`{characters: [...]}` / `{items: [...]}`). */
export function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  const obj = body as Record<string, unknown> | null;
  const inner = obj?.[key] ?? obj?.items ?? obj?.data;
  return Array.isArray(inner) ? (inner as T[]) : [];
}

/** A character answer may be bare or wrapped in `{character: …}`. */
export function characterOf(body: unknown): Character {
  const obj = body as { character?: Character } & Character;
  return obj.character ?? obj;
}

/** `{user: {...}}` or a bare user. */
export function userOf(body: unknown): User | null {
  const b = body as ({ user?: User } & Partial<User>) | null;
  const u = b?.user ?? b;
  return u && typeof u.id === 'string' ? (u as User) : null;
}

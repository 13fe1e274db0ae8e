/**
 * The state of one streamed reply, built only from the job's events. Pure, so that a page reloaded in the
 * middle of a reply can rebuild the same text from what it saved plus the events after its last id.
 */

export type Phase = 'queued' | 'running' | 'streamed' | 'completed' | 'failed' | 'cancelled';

export interface TtsView {
  status: 'pending' | 'running' | 'completed' | 'failed' | 'skipped';
  mode?: string;
  audio_url?: string;
  reason?: string;
}

export interface ReplyState {
  jobId: string;
  text: string;
  phase: Phase;
  attempt: number;
  queuePosition: number | null;
  etaSeconds: number | null;
  /** The last stored event applied: the resume point, and the guard against applying an event twice. */
  lastEventId: string | null;
  /** True once a retry restarted the text (shown as a note). */
  restarted: boolean;
  /** The backend is being retried (set by a `queued` status with a reason, or by polling). */
  backendTrouble: boolean;
  tts: TtsView | null;
  error: { code: string; message: string } | null;
  done: boolean;
}

export const initialReply = (jobId: string): ReplyState => ({
  jobId,
  text: '',
  phase: 'queued',
  attempt: 0,
  queuePosition: null,
  etaSeconds: null,
  lastEventId: null,
  restarted: false,
  backendTrouble: false,
  tts: null,
  error: null,
  done: false,
});

/** Redis stream ids (`<ms>-<seq>`) compared in order; false for anything that is not one. */
export function isAfter(id: string, than: string | null): boolean {
  if (than === null) return true;
  const [a, b] = [parseId(id), parseId(than)];
  if (!a || !b) return true;
  return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
}

function parseId(id: string): [number, number] | null {
  const m = /^(\d+)-(\d+)$/.exec(id);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

type Data = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

/** Applies one event. Events with an id at or before `lastEventId` were applied already and are ignored. */
export function applyEvent(s: ReplyState, event: string, data: Data, id: string | null): ReplyState {
  if (id !== null && !isAfter(id, s.lastEventId)) return s;
  const next = applyData(s, event, data);
  return id === null ? next : { ...next, lastEventId: id };
}

function applyData(s: ReplyState, event: string, data: Data): ReplyState {
  switch (event) {
    case 'status': {
      const status = str(data.status);
      const attempt = num(data.attempt) ?? s.attempt;
      if (status === 'queued') {
        return {
          ...s,
          phase: s.phase === 'streamed' ? s.phase : 'queued',
          queuePosition: num(data.queue_position) ?? s.queuePosition,
          etaSeconds: num(data.eta_seconds) ?? s.etaSeconds,
          backendTrouble: s.backendTrouble || typeof data.reason === 'string',
        };
      }
      if (status === 'running') {
        // A retry writes the text again from the start: what the earlier attempt sent is dropped.
        const restart = attempt > 1 && s.text !== '';
        return {
          ...s,
          phase: 'running',
          attempt,
          queuePosition: null,
          etaSeconds: null,
          text: attempt > 1 ? '' : s.text,
          restarted: s.restarted || restart,
        };
      }
      return s;
    }
    case 'token':
      return { ...s, phase: 'running', backendTrouble: false, text: s.text + str(data.delta) };
    case 'reply':
      // The stored reply is the authority: it replaces the streamed text, which it must equal anyway.
      return { ...s, phase: 'streamed', backendTrouble: false, text: str(data.content, s.text) };
    case 'tts':
      return { ...s, tts: data as unknown as TtsView };
    case 'error':
      return { ...s, error: { code: str(data.code, 'error'), message: str(data.message) } };
    case 'done': {
      const status = str(data.status);
      const phase: Phase = status === 'completed' || status === 'cancelled' ? status : 'failed';
      return { ...s, phase, done: true, queuePosition: null };
    }
    default:
      return s;
  }
}

/** Updates from `GET /chat/jobs/:id` while the job waits for a model slot or for the backend to return. */
export function applyPoll(s: ReplyState, view: Data): ReplyState {
  if (s.done || (view.status !== 'queued' && view.status !== 'running')) return s;
  const backend = view.backend as { status?: string } | undefined;
  const queued = view.status === 'queued';
  return {
    ...s,
    queuePosition: queued ? (num(view.queue_position) ?? s.queuePosition) : s.queuePosition,
    etaSeconds: queued ? (num(view.eta_seconds) ?? s.etaSeconds) : s.etaSeconds,
    backendTrouble: backend?.status === 'down' || (s.backendTrouble && backend?.status !== 'up'),
  };
}

/** True while no text came yet: the job waits in line, or for a backend that does not answer. */
export const waiting = (s: ReplyState) =>
  !s.done && s.text === '' && (s.phase === 'queued' || s.phase === 'running');

/** True while the person can still stop the reply. */
export const cancellable = (s: ReplyState) => !s.done && (s.phase === 'queued' || s.phase === 'running');

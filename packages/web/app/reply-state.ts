/**
 * The state of one streamed reply, built only from the job's events. Pure, so that a page reloaded in the
 * middle of a reply can rebuild the same text from what it saved plus the events after its last id.
 */
import type { ChatJobView, JobErrorInfo, JobEvent, TtsInfo } from '@gateway/contracts';

export type Phase = 'queued' | 'running' | 'streamed' | 'completed' | 'failed' | 'cancelled';

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
  tts: TtsInfo | null;
  error: JobErrorInfo | null;
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

/** Applies one event. Events with an id at or before `lastEventId` were applied already and are ignored. */
export function applyEvent(s: ReplyState, event: JobEvent, id: string | null): ReplyState {
  if (id !== null && !isAfter(id, s.lastEventId)) return s;
  const next = applyData(s, event);
  return id === null ? next : { ...next, lastEventId: id };
}

function applyData(s: ReplyState, { event, data }: JobEvent): ReplyState {
  switch (event) {
    case 'status': {
      const attempt = data.attempt ?? s.attempt;
      if (data.status === 'queued') {
        return {
          ...s,
          phase: s.phase === 'streamed' ? s.phase : 'queued',
          queuePosition: data.queue_position ?? s.queuePosition,
          etaSeconds: data.eta_seconds ?? s.etaSeconds,
          backendTrouble: s.backendTrouble || data.reason !== undefined,
        };
      }
      if (data.status === 'running') {
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
      return { ...s, phase: 'running', backendTrouble: false, text: s.text + data.delta };
    case 'reply':
      // The stored reply is the authority: it replaces the streamed text, which it must equal anyway.
      return { ...s, phase: 'streamed', backendTrouble: false, text: data.content };
    case 'tts':
      return { ...s, tts: data };
    case 'error':
      return { ...s, error: { code: data.code, message: data.message } };
    case 'done': {
      const phase: Phase =
        data.status === 'completed' || data.status === 'cancelled' ? data.status : 'failed';
      return { ...s, phase, done: true, queuePosition: null };
    }
  }
}

/** What a poll of `GET /chat/jobs/:id` tells about a job that has not ended. */
export type PollView = Pick<ChatJobView, 'status'> &
  Partial<Pick<ChatJobView, 'queue_position' | 'eta_seconds' | 'backend'>>;

/** Updates from `GET /chat/jobs/:id` while the job waits for a model slot or for the backend to return. */
export function applyPoll(s: ReplyState, view: PollView): ReplyState {
  if (s.done || (view.status !== 'queued' && view.status !== 'running')) return s;
  const backend = view.backend?.status;
  const queued = view.status === 'queued';
  return {
    ...s,
    queuePosition: queued ? (view.queue_position ?? s.queuePosition) : s.queuePosition,
    etaSeconds: queued ? (view.eta_seconds ?? s.etaSeconds) : s.etaSeconds,
    backendTrouble: backend === 'down' || (s.backendTrouble && backend !== 'up'),
  };
}

/** True while no text came yet: the job waits in line, or for a backend that does not answer. */
export const waiting = (s: ReplyState) =>
  !s.done && s.text === '' && (s.phase === 'queued' || s.phase === 'running');

/** True while the person can still stop the reply. */
export const cancellable = (s: ReplyState) => !s.done && (s.phase === 'queued' || s.phase === 'running');

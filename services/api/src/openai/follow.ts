import {
  ERROR_CODES,
  GatewayError,
  isErrorCode,
  isGatewayError,
  type JobErrorInfo,
  type Reply,
} from '@gateway/contracts';
import type { EventSubscription } from '@gateway/queue';
import type { FastifyReply } from 'fastify';
import { cancelChatJob } from '../chat/cancel.js';
import type { ApiDeps } from '../deps.js';

export type JobEnd =
  | { status: 'completed'; reply: Reply }
  | { status: 'failed'; error: JobErrorInfo }
  | { status: 'cancelled' };

export interface JobStatusChange {
  status: string;
  attempt?: number;
  reason?: string;
  /** Messages left out to fit the context window, said before the first token. */
  dropped_messages?: number;
}

export interface JobListener {
  onStatus?(s: JobStatusChange): void;
  onToken?(delta: string): void;
  /** Called once, with how the job ended. */
  onEnd(end: JobEnd): void;
}

const parse = <T>(text: string): T | null => {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
};

export interface JobFollower {
  /** Resolves once history has been read and live events flow; rejects when Redis cannot be read. */
  ready: Promise<void>;
  /** Stops following; safe at any time, also before `ready`. */
  close(): void;
}

/**
 * Follows a job's stored events from the start (history, then live), as the SSE route does, and hands
 * them on already parsed. `done` is always the last event of a job; what it ended with comes from the
 * `reply` / `error` events before it. The follower closes itself after `onEnd`.
 */
export function followJob(deps: ApiDeps, jobId: string, l: JobListener): JobFollower {
  let reply: Reply | null = null;
  let error: JobErrorInfo | null = null;
  let closed = false;
  let sub: EventSubscription | null = null;
  const close = () => {
    closed = true;
    sub?.close();
  };
  const ready = deps.hub
    .subscribe(deps.keys.events(jobId), null, (e) => {
      if (closed) return;
      if (e.event === 'token') {
        const t = parse<{ delta?: unknown }>(e.data);
        if (typeof t?.delta === 'string') l.onToken?.(t.delta);
      } else if (e.event === 'status') {
        const s = parse<JobStatusChange>(e.data);
        if (s) l.onStatus?.(s);
      } else if (e.event === 'reply') {
        reply = parse<Reply>(e.data);
      } else if (e.event === 'error') {
        error = parse<JobErrorInfo>(e.data);
      } else if (e.event === 'done') {
        close();
        const status = parse<{ status?: string }>(e.data)?.status;
        if (status === 'completed' && reply) l.onEnd({ status: 'completed', reply });
        else if (status === 'cancelled') l.onEnd({ status: 'cancelled' });
        else
          l.onEnd({
            status: 'failed',
            error: error ?? { code: 'internal_error', message: 'the job failed' },
          });
      }
    })
    .then((s) => {
      sub = s;
      if (closed) s.close();
    });
  return { ready, close };
}

/** The HTTP error for a job that did not complete: the backend's reason, with the status of its code. */
export function jobEndError(end: Exclude<JobEnd, { status: 'completed' }>): GatewayError {
  if (end.status === 'cancelled') {
    return new GatewayError('cancelled', 'the job was cancelled before it completed');
  }
  const { code, message } = end.error;
  if (!isErrorCode(code)) return new GatewayError('backend_server_error', `${code}: ${message}`);
  // A backend that is away: the SDKs wait this long before they try again.
  const retryAfter = ERROR_CODES[code].status === 503 ? 5 : undefined;
  return new GatewayError(code, message, retryAfter === undefined ? {} : { retryAfter });
}

/**
 * Cancels the job when the client goes away before its answer was sent: the worker aborts the backend
 * request and the slot goes to the next job. Returns a function that stops watching.
 */
export function cancelOnDisconnect(deps: ApiDeps, reply: FastifyReply, jobId: string): () => void {
  const onClose = () => {
    if (reply.raw.writableFinished) return;
    void cancelQuietly(deps, jobId, reply);
  };
  reply.raw.once('close', onClose);
  // Gone already (while the job was being submitted): no close event will come.
  if (reply.raw.destroyed) onClose();
  return () => reply.raw.off('close', onClose);
}

export async function cancelQuietly(deps: ApiDeps, jobId: string, reply: FastifyReply): Promise<void> {
  try {
    const rec = await deps.jobs.get(jobId);
    if (!rec) return;
    const outcome = await cancelChatJob(deps, rec);
    reply.log.info({ jobId, outcome }, 'client went away: job cancelled');
  } catch (err) {
    // Already ended (409): nothing to cancel.
    if (isGatewayError(err) && err.code === 'conflict') return;
    reply.log.warn({ err, jobId }, 'could not cancel the job of a client that went away');
  }
}

import {
  type ChatJobData,
  GatewayError,
  isGatewayError,
  type JobEvent,
  type JobStatus,
  type Reply,
  TERMINAL_STATUSES,
  type TtsInfo,
} from '@gateway/contracts';
import type { LlmClient } from '@gateway/llm-clients';
import type { Logger } from '@gateway/logger';
import {
  afterJobEnd,
  type ChatDispatcher,
  type ConversationAdmin,
  type ConversationStore,
  type EndingJob,
  endJob,
  type FinishResult,
  type JobRecord,
  type JobStore,
  type QueueStats,
} from '@gateway/queue';
import { OUTAGE_CODES } from './circuit-breaker.js';
import { failpoint } from './failpoints.js';
import { generate, type ReplyDeps } from './generate-reply.js';
import { TokenBuffer } from './token-buffer.js';

export interface ChatJobDeps {
  llm: LlmClient;
  jobs: JobStore;
  conversations: ConversationStore;
  /** Reads the recent turns for a prompt; stores a regenerated reply as an alternative. */
  history: Pick<ConversationAdmin, 'recentTurns' | 'saveAlternative'> &
    Partial<Pick<ConversationAdmin, 'storedCharacter'>>;
  dispatcher: ChatDispatcher;
  stats: QueueStats;
  /** Puts the reply on the speech queue; must be idempotent (keyed by job id). */
  handOffTts: (data: ChatJobData, reply: Reply) => Promise<void>;
  log: Logger;
  settings: {
    maxContextTokens: number;
    eventFlushMs: number;
    lore?: { scanDepth: number; tokenBudget: number };
  };
  /** Tells whether a failure means the backend is down (then the job waits instead of spending an attempt). */
  breaker?: { onSuccess(): void; onFailure(err: GatewayError): Promise<boolean> };
  /** Gives the owner's slot back (USER_MAX_ACTIVE_JOBS) when the job ends; idempotent. */
  userJobs?: { release(owner: string, jobId: string): Promise<void> };
  observe?: ChatObserver;
  /** Sees the reply's text as it streams (speech starts with its first sentence); null: not this job. */
  replySpeech?: (data: ChatJobData, attempt: number) => StreamingSpeech | null;
  /** In a pool of GPU servers: which server runs the job here, and how it leaves for another. */
  placement?: Placement;
  /** A job of n > 1 choices holds n of its server's cap while it generates (see `generate`). */
  seats?: ReplyDeps['seats'];
}

/** Speech of a reply while it streams: each token, then the end of the stream. */
export interface StreamingSpeech {
  onToken(delta: string): void;
  onEnd(): void;
}

/** The pool's side of one job (see ChatPool): where it runs, and the two ways it moves elsewhere. */
export interface Placement {
  server: string;
  /** Puts a copy found on this server's queue onto the queue of the server its record names. */
  forward(to: string): Promise<void>;
  /** After an outage cut the job off at `attempt`: back to waiting on another server; null when none can. */
  handOver(attempt: number): Promise<string | null>;
}

/** Where a job's timings go (Prometheus in production); every figure in milliseconds or counts. */
export interface ChatObserver {
  queueWait(ms: number): void;
  ttft(ms: number): void;
  generation(ms: number): void;
  tokens(n: number): void;
  backendError(code: string): void;
  inFlight(delta: 1 | -1): void;
}

export interface JobContext {
  /** Attempts BullMQ already made before this one. */
  attemptsMade: number;
  maxAttempts: number;
  /** Aborted when the job is cancelled. */
  signal?: AbortSignal;
}

export type ChatOutcome =
  | { outcome: 'completed'; reply: Reply }
  | { outcome: 'cancelled' }
  | { outcome: 'already_ended'; status: string }
  | { outcome: 'expired' }
  /** A retryable failure with attempts left: the caller rethrows so the queue retries with backoff. */
  | { outcome: 'retry'; error: GatewayError }
  /** The backend is down: the job goes back to the line, without losing an attempt. */
  | { outcome: 'backend_down'; error: GatewayError }
  /** It runs on another server of the pool now (failover, or a copy left here by one). */
  | { outcome: 'moved'; server: string }
  | { outcome: 'failed'; error: GatewayError };

const ttsFor = (data: ChatJobData): TtsInfo => {
  const voice = data.voice_id ?? data.character.voice_id;
  if (!data.tts) return { status: 'skipped', mode: data.tts_mode, voice_id: voice, reason: 'not requested' };
  if (data.tts_mode === 'on_click') {
    return {
      status: 'skipped',
      mode: 'on_click',
      voice_id: voice,
      reason: 'on_click: POST /chat/jobs/{id}/tts',
    };
  }
  return { status: 'pending', mode: data.tts_mode, voice_id: voice };
};

export const speechFollows = (data: ChatJobData) => data.tts && data.tts_mode !== 'on_click';

/**
 * One chat turn: build the prompt, stream the reply from the backend into the job's events, store it,
 * and hand it to speech. Safe to run again for the same job (after a crash): a job that already ended
 * only has its follow-up steps repeated, and those are idempotent.
 */
export async function processChatJob(
  data: ChatJobData,
  deps: ChatJobDeps,
  ctx: JobContext,
): Promise<ChatOutcome> {
  const { jobs, log } = deps;
  const id = data.job_id;
  // The start script checks the record itself (gone, ended, cancel asked), so the common path costs one call.
  const start = await jobs.start(id, Date.now(), deps.placement?.server ?? '');
  if (!start.started) {
    if (start.status === 'cancel_requested') return cancel(data, deps);
    if (start.status.startsWith('moved:') && deps.placement) {
      const to = start.status.slice('moved:'.length);
      await deps.placement.forward(to);
      return { outcome: 'moved', server: to };
    }
    const rec = TERMINAL_STATUSES.has(start.status as JobStatus) ? await jobs.get(id) : null;
    const notEnded: FinishResult = {
      finished: false,
      status: start.status,
      attempt: 0,
      priority: 0,
      runMs: null,
    };
    if (!rec) {
      // Gone (expired): give its slot back and let its conversation go on.
      await afterJobEnd(deps, endingOf(data, deps), notEnded);
      return { outcome: 'expired' };
    }
    await afterEnd(data, recordOutcome(rec), deps, notEnded);
    return { outcome: 'already_ended', status: rec.status };
  }
  const attempt = start.attempt;
  const speak = deps.replySpeech?.(data, attempt) ?? null;
  const began = Date.now();
  // The job left its owner's waiting line: the owner's next job may take the front again (fair share).
  // It goes out alongside the prompt's reads; it is awaited before the job ends.
  const leftLine =
    attempt === 1 ? deps.dispatcher.fair.leave(data.owner, deps.placement?.server) : Promise.resolve();
  leftLine.catch((err: unknown) => log.warn({ err }, 'fair-share count not updated'));
  if (attempt === 1) deps.observe?.queueWait(began - data.created_at);
  const local = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, local.signal]) : local.signal;
  const buffer = new TokenBuffer(deps.settings.eventFlushMs, async (delta) => {
    const written = await jobs.append(id, attempt, [{ event: 'token', data: { delta } }]);
    // The job was cancelled or handed to another worker: stop spending the GPU on it.
    if (!written) local.abort(new GatewayError('cancelled', 'job no longer running here'));
  });

  /** Set once the record has ended (by us or a re-run): from then on a failure must not re-queue it. */
  const progress = { ended: false };
  try {
    let tokens = 0;
    let firstTokenAt = 0;
    failpoint('before_backend');
    deps.observe?.inFlight(1);
    const reply = await generate(
      data,
      deps,
      signal,
      (delta) => {
        if (++tokens === 1) {
          firstTokenAt = Date.now();
          deps.observe?.ttft(firstTokenAt - began);
        }
        if (tokens === 3) failpoint('mid_stream');
        buffer.push(delta);
        speak?.onToken(delta);
      },
      // Said before the first token, so that a streaming `/v1` answer can name it in a header.
      (dropped) =>
        jobs.append(id, attempt, [
          { event: 'status', data: { status: 'running', attempt, dropped_messages: dropped } },
        ]),
    ).finally(() => deps.observe?.inFlight(-1));
    speak?.onEnd();
    deps.breaker?.onSuccess();
    if (firstTokenAt) deps.observe?.generation(Date.now() - firstTokenAt);
    deps.observe?.tokens(reply.usage.completion_tokens);
    // The stored turn is written first; the tokens still buffered then go out in the same script as the
    // reply that follows them (one write less than flushing them on their own).
    const tail = buffer.take();
    await complete(data, reply, deps, began, [tail.then(() => {}), leftLine.catch(() => {})], progress, tail);
    return { outcome: 'completed', reply };
  } catch (err) {
    buffer.discard();
    const error = toGatewayError(err, signal);
    if (progress.ended) {
      // The reply is stored and the record ended: only a follow-up step (speech hand-off, slot release,
      // the conversation's next turn) failed. The retry repeats just those, as they are idempotent; the
      // record must not go back to the queue, or the reply would be generated a second time.
      log.warn({ err: error, attempt }, 'follow-up steps after the reply failed; retrying them');
      return { outcome: 'retry', error };
    }
    if (error.code !== 'cancelled') deps.observe?.backendError(error.code);
    if (error.code === 'cancelled') {
      const now = await jobs.get(id);
      // Not a cancel: another worker runs this job now, or will (ours lost its lock): leave it to it.
      if (now?.status === 'running' && !now.cancelRequested) {
        return { outcome: 'already_ended', status: 'superseded' };
      }
      return cancel(data, deps);
    }
    if (error.retryable && OUTAGE_CODES.has(error.code) && deps.placement) {
      // Cut off by a failing server: the job runs again (attempt + 1) on another that serves its model.
      const down = deps.breaker?.onFailure(error);
      const to = await deps.placement.handOver(attempt);
      await down;
      if (to) {
        log.warn({ err: error, attempt, from: deps.placement.server, to }, 'server failed; job moved');
        await jobs.patch(id, {}, [
          {
            event: 'status',
            data: {
              status: 'queued',
              attempt,
              reason: `server ${deps.placement.server} failed; moved to ${to}`,
            },
          },
        ]);
        return { outcome: 'moved', server: to };
      }
      if (await down) {
        await jobs.patch(id, { status: 'queued' }, [
          {
            event: 'status',
            data: { status: 'queued', attempt, reason: 'backend unavailable; waiting for it' },
          },
        ]);
        return { outcome: 'backend_down', error };
      }
    } else if (error.retryable && (await deps.breaker?.onFailure(error))) {
      await jobs.patch(id, { status: 'queued' }, [
        {
          event: 'status',
          data: { status: 'queued', attempt, reason: 'backend unavailable; waiting for it' },
        },
      ]);
      return { outcome: 'backend_down', error };
    }
    const last = ctx.attemptsMade + 1 >= ctx.maxAttempts;
    if (error.retryable && !last) {
      log.warn({ err: error, attempt }, 'chat job failed, will retry');
      await jobs.patch(id, { status: 'queued' }, [
        { event: 'status', data: { status: 'queued', attempt, reason: `retrying after ${error.code}` } },
      ]);
      return { outcome: 'retry', error };
    }
    log.warn({ err: error, attempt }, 'chat job failed');
    await fail(data, error, deps);
    return { outcome: 'failed', error };
  }
}

async function complete(
  data: ChatJobData,
  reply: Reply,
  deps: ChatJobDeps,
  began: number,
  pending: Promise<void>[],
  progress: { ended: boolean },
  /** Streamed text not written yet: it precedes the reply in the finishing write. */
  tail: Promise<string>,
): Promise<void> {
  const now = Date.now();
  await Promise.all([
    ...pending,
    data.kind === 'roleplay' && data.regenerate
      ? deps.history.saveAlternative(data.conversation_id, data.turn, data.job_id, reply.content, now)
      : null,
    data.kind === 'roleplay' && !data.regenerate
      ? deps.conversations.saveTurn(data.conversation_id, {
          turn: data.turn,
          job_id: data.job_id,
          user: data.message,
          assistant: reply.content,
          user_at: data.created_at,
          assistant_at: now,
        })
      : null,
  ]);
  failpoint('after_store');
  const tts = ttsFor(data);
  const rest = await tail;
  const events: JobEvent[] = [
    ...(rest ? [{ event: 'token' as const, data: { delta: rest } }] : []),
    { event: 'reply', data: reply },
  ];
  // `done` is always last: with speech to follow, the tts-worker sends it after the `tts` event.
  if (!speechFollows(data)) events.push({ event: 'done', data: { status: 'completed' } });
  const ended = await deps.jobs.finish(data.job_id, 'completed', { reply, tts }, events, now);
  progress.ended = true;
  if (ended.finished) {
    // This attempt's run time (the record's counts from the first start).
    const mine = { ...ended, runMs: now - began };
    await afterEnd(data, { status: 'completed', reply, ttsPending: tts.status === 'pending' }, deps, mine);
    return;
  }
  // Someone else ended it first (a re-run): follow up on what the record says.
  const rec = await deps.jobs.get(data.job_id);
  if (rec) await afterEnd(data, recordOutcome(rec), deps, ended);
}

/** What the follow-up steps need to know about an ended job. */
interface EndedJob {
  status: JobStatus;
  reply: Reply | null;
  ttsPending: boolean;
}

const recordOutcome = (rec: JobRecord): EndedJob => ({
  status: rec.status,
  reply: rec.reply,
  ttsPending: rec.tts?.status === 'pending',
});

const endingOf = (data: ChatJobData, deps: ChatJobDeps): EndingJob => ({
  id: data.job_id,
  owner: data.owner,
  conversationId: data.conversation_id,
  // In a pool, a job that never started leaves the fair-share line of the server it waited on.
  server: deps.placement?.server ?? null,
});

/**
 * Follow-up steps of an ended job: the shared ones (slot, conversation, fair share, statistics: see
 * `endJob`) and the speech hand-off. Each is idempotent, so a re-run after a crash repeats them safely.
 */
async function afterEnd(
  data: ChatJobData,
  job: EndedJob,
  deps: ChatJobDeps,
  ended: FinishResult,
): Promise<void> {
  const completed = job.status === 'completed';
  await Promise.all([
    afterJobEnd(deps, endingOf(data, deps), ended),
    completed && job.reply && speechFollows(data) && job.ttsPending ? deps.handOffTts(data, job.reply) : null,
  ]);
}

async function cancel(data: ChatJobData, deps: ChatJobDeps): Promise<ChatOutcome> {
  await endJob(deps, endingOf(data, deps), 'cancelled', { tts: { status: 'skipped', reason: 'cancelled' } }, [
    { event: 'done', data: { status: 'cancelled' } },
  ]);
  return { outcome: 'cancelled' };
}

async function fail(data: ChatJobData, error: GatewayError, deps: ChatJobDeps): Promise<void> {
  const info = { code: error.code, message: error.message };
  await endJob(
    deps,
    endingOf(data, deps),
    'failed',
    { error: info, tts: { status: 'skipped', reason: 'no reply' } },
    [
      { event: 'error', data: info },
      { event: 'done', data: { status: 'failed' } },
    ],
  );
}

export function toGatewayError(err: unknown, signal?: AbortSignal): GatewayError {
  if (signal?.aborted) return new GatewayError('cancelled', 'the job was cancelled', { cause: err });
  if (isGatewayError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GatewayError('worker_error', message, { cause: err });
}

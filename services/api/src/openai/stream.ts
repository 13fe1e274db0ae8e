import { type ChatJobData, GatewayError } from '@gateway/contracts';
import type { FastifyReply } from 'fastify';
import { SseLimiter } from '../chat/sse-limit.js';
import type { ApiDeps } from '../deps.js';
import { toErrorView } from '../errors.js';
import { activeStreams, headersOf, SseStream } from '../sse.js';
import { choicesOf, chunks, completionMeta, DROPPED_HEADER } from './completion.js';
import { openAiErrorBody } from './errors.js';
import { cancelQuietly, followJob, jobEndError } from './follow.js';

const restarted = () =>
  new GatewayError(
    'backend_stream_error',
    'the backend failed part way through this reply; the text streamed so far cannot be taken back, so ' +
      'the reply ends here: send the request again',
  );

const shuttingDown = () =>
  new GatewayError(
    'not_ready',
    'this api process is shutting down; the reply ends here: send the request again',
    { retryAfter: 1 },
  );

/** One SSE_MAX_PER_USER limiter per process: the same Redis leases as the job event streams. */
const slots = new WeakMap<ApiDeps, SseLimiter>();

/**
 * Takes one of the user's SSE_MAX_PER_USER stream slots (shared with GET /chat/jobs/{id}/events), or
 * throws 429 `rate_limited`; taken before the job is submitted, so a refused stream makes no job. The
 * returned function gives it back (streamCompletion does, when the stream ends).
 */
export function reserveStream(deps: ApiDeps, owner: string): Promise<() => void> {
  let limiter = slots.get(deps);
  if (!limiter) {
    limiter = new SseLimiter(deps.redis, deps.keys, { max: deps.config.limits.ssePerUser });
    slots.set(deps, limiter);
  }
  return limiter.acquire(owner);
}

/**
 * `stream: true`: the job's tokens as `chat.completion.chunk` events, framed exactly as vLLM frames them
 * (`data:` lines only; role chunk, content deltas, finish chunk, usage chunk with `choices: []` when
 * `include_usage`, then `data: [DONE]`).
 *
 * The status line waits for the first token, as vLLM's does: a job that fails before it (the backend
 * refused the prompt, say) is an ordinary JSON error with its own status, which the SDKs raise as their
 * usual error classes. A job still waiting in the queue after SSE_HEARTBEAT_MS opens the stream anyway
 * and keeps it alive with `: ping` comments. After the status line, a failure is one
 * `data: {"error": {...}}` event and `[DONE]` (vLLM's mid-stream error).
 *
 * The stream is an SseStream like every other (sse.ts): it counts in `gateway_sse_clients` and, with the
 * slot from `reserveStream`, against SSE_MAX_PER_USER; shutdown ends it with an error event and `[DONE]`
 * (it cannot be resumed) and cancels its job.
 *
 * A retried job starts its text again. Before any text was sent that is invisible here; after it, the
 * client would see the reply twice, so the stream ends with an error event instead and the job is
 * cancelled (nobody is left to read it). A client that goes away cancels its job too.
 */
export function streamCompletion(
  deps: ApiDeps,
  reply: FastifyReply,
  data: ChatJobData,
  includeUsage: boolean,
  release: () => void = () => {},
): Promise<FastifyReply> {
  const meta = completionMeta(data);
  const heartbeatMs = deps.config.http.sseHeartbeatMs;
  return new Promise<FastifyReply>((resolve, reject) => {
    let sse: SseStream | null = null;
    let opened = false;
    let over = false;
    let contentSent = false;
    let attempt = 0;
    let dropped = 0;

    const event = (body: unknown) => {
      if (!over) sse?.data(JSON.stringify(body));
    };
    const cleanup = () => {
      over = true;
      clearTimeout(openTimer);
      follower.close();
      reply.raw.off('close', onClose);
      release();
    };
    const open = () => {
      if (opened || over) return;
      opened = true;
      if (dropped > 0) reply.header(DROPPED_HEADER, String(dropped));
      sse = new SseStream(reply, {
        heartbeatMs,
        maxBufferedBytes: deps.config.http.sseMaxBufferedBytes,
        headers: headersOf(reply),
        // OpenAI's framing: `data:` lines and `: ping` comments only.
        retryMs: null,
        onInterrupt: (s) => {
          s.data(JSON.stringify(openAiErrorBody(toErrorView(shuttingDown()))));
          s.data('[DONE]');
        },
      });
      // Ended from outside (shutdown), cut off as a slow reader, or the client left: its job goes.
      sse.onClose(onClose);
      activeStreams.add(sse);
      resolve(reply);
      event(chunks.role(meta));
    };
    const finish = () => {
      if (over) return;
      sse?.data('[DONE]');
      cleanup();
      sse?.end();
    };
    const fail = (err: unknown) => {
      if (over) return;
      if (!opened) {
        cleanup();
        reject(err);
        return;
      }
      event(openAiErrorBody(toErrorView(err)));
      finish();
    };
    const restart = () => {
      fail(restarted());
      void cancelQuietly(deps, data.job_id, reply);
    };

    // Still queued after a heartbeat interval: open the stream so that the connection is seen to be alive.
    const openTimer = setTimeout(open, heartbeatMs);
    const follower = followJob(deps, data.job_id, {
      onStatus: (s) => {
        if (typeof s.dropped_messages === 'number') dropped = s.dropped_messages;
        if (s.status === 'running' && typeof s.attempt === 'number') {
          const again = contentSent && s.attempt !== attempt;
          attempt = s.attempt;
          if (again) restart();
        } else if (s.status === 'queued' && contentSent) {
          // Back in the queue for a retry (or to wait for the backend): the text will start over.
          restart();
        }
      },
      onToken: (delta) => {
        open();
        event(chunks.content(meta, delta));
        contentSent = true;
      },
      onEnd: (end) => {
        if (end.status !== 'completed') {
          fail(jobEndError(end));
          return;
        }
        open();
        // The first choice streamed as it was generated; the others, tool calls and logprobs come at the end.
        choicesOf(end.reply).forEach((c, i) => {
          const text = i > 0 || !contentSent ? c.content : '';
          event(chunks.choiceEnd(meta, i, c, text));
        });
        if (includeUsage) event(chunks.usage(meta, end.reply.usage));
        finish();
      },
    });
    follower.ready.catch(fail);
    function onClose() {
      if (over) return;
      cleanup();
      void cancelQuietly(deps, data.job_id, reply);
      if (!opened) reject(new GatewayError('cancelled', 'the client went away'));
    }
    reply.raw.on('close', onClose);
    if (reply.raw.destroyed) onClose();
  });
}

import { PassThrough } from 'node:stream';
import { type ChatJobData, GatewayError } from '@gateway/contracts';
import type { FastifyReply } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { toErrorView } from '../errors.js';
import { choicesOf, chunks, completionMeta, DROPPED_HEADER } from './completion.js';
import { openAiErrorBody } from './errors.js';
import { cancelQuietly, followJob, jobEndError } from './follow.js';

const restarted = () =>
  new GatewayError(
    'backend_stream_error',
    'the backend failed part way through this reply; the text streamed so far cannot be taken back, so ' +
      'the reply ends here: send the request again',
  );

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
 * A retried job starts its text again. Before any text was sent that is invisible here; after it, the
 * client would see the reply twice, so the stream ends with an error event instead and the job is
 * cancelled (nobody is left to read it). A client that goes away cancels its job too.
 */
export function streamCompletion(
  deps: ApiDeps,
  reply: FastifyReply,
  data: ChatJobData,
  includeUsage: boolean,
): Promise<FastifyReply> {
  const meta = completionMeta(data);
  const heartbeatMs = deps.config.http.sseHeartbeatMs;
  return new Promise<FastifyReply>((resolve, reject) => {
    const out = new PassThrough();
    // Writes after the client left are dropped below; a late one must not become an unhandled error.
    out.on('error', () => {});
    let opened = false;
    let over = false;
    let contentSent = false;
    let attempt = 0;
    let dropped = 0;
    let heartbeat: NodeJS.Timeout | null = null;

    const event = (body: unknown) => {
      if (over) return;
      out.write(`data: ${JSON.stringify(body)}\n\n`);
      // A client that stopped reading cannot grow our memory: it is dropped as if it had gone away
      // (which cancels its job).
      if (out.writableLength + reply.raw.writableLength > deps.config.http.sseMaxBufferedBytes)
        reply.raw.destroy();
    };
    const cleanup = () => {
      over = true;
      clearTimeout(openTimer);
      if (heartbeat) clearInterval(heartbeat);
      follower.close();
      reply.raw.off('close', onClose);
    };
    const open = () => {
      if (opened || over) return;
      opened = true;
      if (dropped > 0) reply.header(DROPPED_HEADER, String(dropped));
      reply
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .type('text/event-stream; charset=utf-8');
      resolve(reply.send(out));
      event(chunks.role(meta));
      heartbeat = setInterval(() => {
        if (!over) out.write(': ping\n\n');
      }, heartbeatMs);
      heartbeat.unref();
    };
    const finish = () => {
      if (over) return;
      out.end('data: [DONE]\n\n');
      cleanup();
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
    const onClose = () => {
      if (over) return;
      cleanup();
      void cancelQuietly(deps, data.job_id, reply);
      if (!opened) reject(new GatewayError('cancelled', 'the client went away'));
    };
    reply.raw.on('close', onClose);
    if (reply.raw.destroyed) onClose();
  });
}

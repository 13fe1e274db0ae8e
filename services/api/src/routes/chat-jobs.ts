import {
  type CharacterSnapshot,
  ChatJobAccepted,
  ChatJobRequest,
  ChatJobView,
  GatewayError,
  Id,
} from '@gateway/contracts';
import { isStreamId } from '@gateway/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { cancelChatJob } from '../chat/cancel.js';
import { getOwnedJob, jobView } from '../chat/job-view.js';
import { watchQueuePosition } from '../chat/queue-updates.js';
import { SseLimiter } from '../chat/sse-limit.js';
import { submitChatJob } from '../chat/submit.js';
import type { ApiDeps } from '../deps.js';
import { ownerOf, userOf } from '../identity.js';
import { submissionRateLimit } from '../limits.js';
import { activeStreams, SseStream } from '../sse.js';

const JobParams = z.object({ id: Id });
const IdempotencyHeaders = z.object({ 'idempotency-key': z.string().min(1).max(256).optional() });

export const chatJobRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  // Redis went away: end the streams with a resume hint rather than leave clients on a silent line.
  const onRedisLost = () => activeStreams.endOpen(2_000);
  deps.subscriber.on('close', onRedisLost);
  const sseLimit = new SseLimiter(deps.redis, deps.keys, { max: deps.config.limits.ssePerUser });
  app.addHook('onClose', async () => {
    deps.subscriber.off('close', onRedisLost);
    sseLimit.close();
  });
  const limitSubmissions = await submissionRateLimit(app, deps);
  app.post(
    '/chat/jobs',
    {
      onRequest: limitSubmissions,
      schema: {
        tags: ['chat'],
        summary: 'Submit a chat turn; answers at once with the job id',
        body: ChatJobRequest,
        headers: IdempotencyHeaders,
        response: { 202: ChatJobAccepted },
      },
    },
    async (req, reply) => {
      const owner = ownerOf(req);
      const userName = userOf(req).username;
      // Resolved now, so an unknown or foreign character is a 404 here rather than a failed job later.
      const characterId = req.body.character_id;
      const stored = characterId ? await deps.characters.snapshotWithGreetings(owner, characterId) : null;
      const character = stored?.snapshot ?? (await conversationCharacter(deps, owner, req.body));
      const accepted = await submitChatJob(deps, {
        owner,
        body: req.body,
        idempotencyKey: req.headers['idempotency-key'],
        character,
        userName,
        alternateGreetings: stored?.alternateGreetings ?? [],
      });
      req.log.info({ jobId: accepted.job_id }, 'chat job accepted');
      return reply.code(202).header('location', accepted.links.self).send(accepted);
    },
  );

  app.get(
    '/chat/jobs/:id',
    {
      schema: {
        tags: ['chat'],
        summary: 'Poll a chat job',
        params: JobParams,
        response: { 200: ChatJobView },
      },
    },
    async (req) => jobView(deps, await getOwnedJob(deps, req.params.id, ownerOf(req))),
  );

  app.delete(
    '/chat/jobs/:id',
    {
      schema: {
        tags: ['chat'],
        summary: 'Cancel a queued or running chat job',
        params: JobParams,
        response: { 202: ChatJobView },
      },
    },
    async (req, reply) => {
      const rec = await getOwnedJob(deps, req.params.id, ownerOf(req));
      await cancelChatJob(deps, rec);
      const now = await getOwnedJob(deps, rec.id, ownerOf(req));
      return reply.code(202).send(await jobView(deps, now));
    },
  );

  app.get(
    '/chat/jobs/:id/events',
    {
      schema: {
        tags: ['chat'],
        summary: 'Job events as Server-Sent Events (resume with Last-Event-ID)',
        params: JobParams,
        headers: z.object({ 'last-event-id': z.string().max(64).optional() }),
        querystring: z.object({ last_event_id: z.string().max(64).optional() }),
      },
    },
    async (req, reply) => {
      const rec = await getOwnedJob(deps, req.params.id, ownerOf(req));
      const lastId = req.headers['last-event-id'] ?? req.query.last_event_id ?? null;
      if (lastId !== null && !isStreamId(lastId)) {
        throw new GatewayError('invalid_input', 'Last-Event-ID is not an event id of this stream', {
          details: [{ field: 'headers.last-event-id', message: 'expected an id such as 1700000000000-0' }],
        });
      }
      // SSE_MAX_PER_USER, counted in Redis across api instances: refused here with a 429 before the stream opens.
      const release = await sseLimit.acquire(rec.owner);
      let sse: SseStream;
      try {
        sse = new SseStream(reply, {
          heartbeatMs: deps.config.http.sseHeartbeatMs,
          maxBufferedBytes: deps.config.http.sseMaxBufferedBytes,
          headers: corsHeadersOf(reply),
        });
      } catch (err) {
        release();
        throw err;
      }
      sse.onClose(release);
      activeStreams.add(sse);
      // Snapshots of the queue position carry no id: they say where the job stands without moving the
      // client's resume point.
      // A waiting job's stream holds no event yet (it is created when the job starts): say where it stands.
      if (rec.status === 'queued' && lastId === null)
        sse.send('status', JSON.stringify({ status: 'queued' }));
      const watcher =
        rec.status === 'queued'
          ? watchQueuePosition(deps, rec, (q) =>
              sse.send('status', JSON.stringify({ status: 'queued', ...q })),
            )
          : null;
      sse.onClose(() => watcher?.stop());
      try {
        const sub = await deps.hub.subscribe(deps.keys.events(rec.id), lastId, (e) => {
          if (e.event === 'status' && e.data.includes('"running"')) watcher?.stop();
          sse.send(e.event, e.data, e.id);
          if (e.event === 'done') sse.end();
        });
        sse.onClose(() => sub.close());
      } catch (err) {
        // Headers are gone already: close with a hint, the client resumes from its last id.
        req.log.warn({ err }, 'event stream unavailable');
        sse.end(2_000);
        return;
      }
    },
  );
};

/**
 * A later turn that names no character (and brings none inline) keeps its conversation's stored
 * character, so persona, lorebook and voice do not depend on the client repeating `character_id`.
 */
async function conversationCharacter(
  deps: ApiDeps,
  owner: string,
  body: ChatJobRequest,
): Promise<CharacterSnapshot | null> {
  if (!body.conversation_id || body.character_name !== undefined || body.persona !== undefined) return null;
  const meta = await deps.conversations.meta(body.conversation_id);
  if (!meta?.characterId || meta.owner !== owner) return null;
  return deps.characters.snapshot(owner, meta.characterId).catch(() => null);
}

/** Open SSE streams of this process (OpenAI streams too), so that shutdown can end them with a resume hint. */
export { activeStreams };

function corsHeadersOf(reply: { getHeaders(): Record<string, unknown> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.getHeaders())) {
    if (typeof v === 'string' && (k.startsWith('access-control-') || k === 'vary' || k === 'x-request-id'))
      out[k] = v;
  }
  return out;
}

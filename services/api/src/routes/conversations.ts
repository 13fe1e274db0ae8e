import { ChatJobAccepted, ChatJobRequest, ConversationView, Id } from '@gateway/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { refusal, submitRegeneration, whenSettled } from '../chat/regenerate.js';
import type { ApiDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { ownerOf, userOf } from '../identity.js';
import { submissionRateLimit } from '../limits.js';

const Params = z.object({ id: Id });
const MessageParams = z.object({ id: Id, index: z.coerce.number().int().min(0).max(1_000_000) });
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,400}$/)
    .optional(),
});
const ConversationSummary = z.object({
  conversation_id: z.string(),
  character_id: z.string().nullable(),
  title: z.string().nullable(),
  updated_at: z.string(),
  last_message: z.string().nullable(),
});
const ConversationList = z.object({
  conversations: z.array(ConversationSummary),
  next_cursor: z.string().nullable(),
});
const Rename = z.object({ title: z.string().trim().min(1, 'must not be empty').max(200) }).strict();
const MessageEdit = z
  .object({
    selected: z.number().int().min(0).optional(),
    content: z.string().min(1, 'must not be empty').max(16_000).optional(),
  })
  .strict()
  .refine((b) => b.selected !== undefined || b.content !== undefined, 'give selected, content or both');
const RegenerateBody = ChatJobRequest.omit({
  message: true,
  conversation_id: true,
  character_id: true,
  character_name: true,
  greeting: true,
});

/**
 * The caller's stored conversations: list, read, rename, delete, regenerate the last reply (a swipe) and
 * pick or edit a message's text. Someone else's conversation answers 404, like an unknown id.
 */
export const conversationRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const admin = deps.conversationAdmin;
  const limitSubmissions = await submissionRateLimit(app, deps);

  app.get(
    '/conversations',
    {
      schema: {
        tags: ['conversations'],
        summary: 'Your conversations, newest activity first (cursor pages)',
        querystring: ListQuery,
        response: { 200: ConversationList },
      },
    },
    async (req) => admin.list(ownerOf(req), req.query.limit, req.query.cursor ?? null),
  );

  app.get(
    '/conversations/:id',
    {
      schema: {
        tags: ['conversations'],
        summary: 'A stored conversation, each message with its alternatives',
        params: Params,
        response: { 200: ConversationView },
      },
    },
    async (req) => {
      const meta = await deps.conversations.meta(req.params.id);
      if (!meta || meta.owner !== ownerOf(req)) throw notFound('conversation');
      const [title, messages] = await Promise.all([admin.title(meta.id), admin.messages(meta.id)]);
      return { conversation_id: meta.id, character_id: meta.characterId, title, messages };
    },
  );

  app.patch(
    '/conversations/:id',
    {
      schema: {
        tags: ['conversations'],
        summary: 'Rename a conversation',
        params: Params,
        body: Rename,
        response: { 200: ConversationView },
      },
    },
    async (req) => {
      const owner = ownerOf(req);
      if (!(await admin.rename(owner, req.params.id, req.body.title))) throw notFound('conversation');
      const meta = await deps.conversations.meta(req.params.id);
      if (!meta) throw notFound('conversation');
      return {
        conversation_id: meta.id,
        character_id: meta.characterId,
        title: req.body.title,
        messages: await admin.messages(meta.id),
      };
    },
  );

  app.delete(
    '/conversations/:id',
    {
      schema: {
        tags: ['conversations'],
        summary:
          'Delete a conversation with its jobs, events and audio (409 while a turn is queued or running)',
        params: Params,
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const owner = ownerOf(req);
      const removed = await whenSettled(deps, req.params.id, () => admin.remove(owner, req.params.id));
      if (!Array.isArray(removed)) throw refusal(removed);
      await Promise.all(removed.map((jobId) => removeJob(deps, jobId)));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/conversations/:id/regenerate',
    {
      onRequest: limitSubmissions,
      schema: {
        tags: ['conversations'],
        summary: 'Generate the last reply again; the earlier text stays as an alternative',
        params: Params,
        body: RegenerateBody.optional(),
        response: { 202: ChatJobAccepted },
      },
    },
    async (req, reply) => {
      const user = userOf(req);
      const accepted = await submitRegeneration(deps, {
        owner: user.id,
        userName: user.username,
        conversationId: req.params.id,
        body: req.body ?? {},
      });
      req.log.info({ jobId: accepted.job_id }, 'regeneration accepted');
      return reply.code(202).header('location', accepted.links.self).send(accepted);
    },
  );

  app.put(
    '/conversations/:id/messages/:index',
    {
      schema: {
        tags: ['conversations'],
        summary: 'Select an alternative of a message, or edit its text',
        params: MessageParams,
        body: MessageEdit,
        response: { 200: ConversationView },
      },
    },
    async (req) => {
      const owner = ownerOf(req);
      const meta = await deps.conversations.meta(req.params.id);
      if (!meta || meta.owner !== owner) throw notFound('conversation');
      const messages = await whenSettled(deps, meta.id, () =>
        admin.editMessage(owner, meta.id, req.params.index, req.body),
      );
      if (!Array.isArray(messages)) throw refusal(messages);
      return {
        conversation_id: meta.id,
        character_id: meta.characterId,
        title: await admin.title(meta.id),
        messages,
      };
    },
  );
};

/** Most speech chunks looked for when deleting a job's audio. */
const MAX_AUDIO_CHUNKS = 1_000;

/** A deleted conversation's job: its record, events and audio (whole reply and sentence chunks). */
async function removeJob(deps: ApiDeps, jobId: string): Promise<void> {
  // Sentence chunks are stored per attempt of the reply (and without one for a re-run asked by click).
  const attempts = (await deps.jobs.get(jobId))?.attempt ?? 0;
  const has = async (chunk: number) => {
    for (let attempt = 0; attempt <= attempts; attempt++) {
      const ref = attempt === 0 ? { id: jobId, chunk } : { id: jobId, chunk, attempt };
      if (await deps.audio.stat(ref)) return true;
    }
    return false;
  };
  let chunks = 0;
  while (chunks < MAX_AUDIO_CHUNKS && (await has(chunks))) chunks += 1;
  await Promise.all([
    deps.redis.del(deps.keys.job(jobId), deps.keys.events(jobId)),
    deps.audio.remove(jobId, chunks, attempts),
    // BullMQ keeps a failed job (with its request) for a while; it goes too.
    ...deps.pool.names.map((server) =>
      deps.pool
        .queue(server)
        .remove(jobId)
        .catch(() => 0),
    ),
  ]);
}

import { createHash, randomUUID } from 'node:crypto';
import { isModelAllowed } from '@gateway/config';
import {
  type BackendParams,
  type CharacterSnapshot,
  type ChatJobAccepted,
  type ChatJobData,
  type ChatJobRequest,
  GatewayError,
  type TtsInfo,
} from '@gateway/contracts';
import { expandMacros, withLoreDefaults } from '@gateway/prompt';
import { modelNotServed } from '@gateway/queue';
import type { ApiDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { modelNotAllowed } from '../openai/models.js';

export const jobLinks = (id: string) => ({
  self: `/chat/jobs/${id}`,
  events: `/chat/jobs/${id}/events`,
  audio: `/chat/jobs/${id}/audio`,
});

/** Ids a client cannot guess or enumerate: 122 random bits. */
export const newId = () => randomUUID();

export interface SubmitInput {
  owner: string;
  body: ChatJobRequest;
  idempotencyKey?: string | undefined;
  /** A stored character (resolved by the caller); otherwise the inline fields of the body are used. */
  character?: CharacterSnapshot | null;
  /** The user's display name: what `{{user}}` becomes in the prompt and the greeting. */
  userName?: string | null;
  /** The stored character's other greetings: a new conversation offers them as swipes of its greeting. */
  alternateGreetings?: string[];
}

/**
 * Accepts a chat turn: checks the queue's room, records the job, and enqueues it when its conversation
 * has no earlier turn pending. Answers at once; the work happens in the llm-worker.
 */
export async function submitChatJob(deps: ApiDeps, input: SubmitInput): Promise<ChatJobAccepted> {
  const { config, redis, keys, jobs, conversations } = deps;
  const { owner, body } = input;
  if (body.model && !isModelAllowed(config.llm.models, body.model)) {
    throw modelNotAllowed(body.model, config.llm.models);
  }
  // A model no server of the pool serves is refused before anything is stored.
  const model = body.model ?? config.llm.model;
  if (!deps.pool.single && !deps.backends.serves(model)) {
    throw modelNotServed(model, deps.backends.knownModels());
  }
  let idemKey: string | null = null;
  const jobId = newId();
  if (input.idempotencyKey) {
    idemKey = keys.idempotency(
      owner,
      createHash('sha256').update(input.idempotencyKey).digest('hex').slice(0, 32),
    );
    const claimed = await redis.set(idemKey, jobId, 'EX', config.jobs.retentionSeconds, 'NX');
    if (claimed !== 'OK') {
      const existing = await redis.get(idemKey);
      const rec = existing ? await jobs.get(existing) : null;
      if (rec && rec.owner === owner) {
        return {
          job_id: rec.id,
          conversation_id: rec.conversationId,
          status: rec.status,
          links: jobLinks(rec.id),
        };
      }
    }
  }
  try {
    // What the job will store (USER_MAX_QUEUED_BYTES): the request, and of a stored character only what
    // the job keeps by reference (its persona and lorebook stay in the character).
    const c = input.character;
    const kept = c ? { id: c.id, name: c.name, voice_id: c.voice_id } : null;
    const bytes = Buffer.byteLength(JSON.stringify(body)) + Buffer.byteLength(JSON.stringify(kept));
    const data = await admitChatJob(
      deps,
      owner,
      jobId,
      async () => {
        const stored = input.character;
        const otherGreetings = input.alternateGreetings ?? [];
        const character: CharacterSnapshot = stored
          ? withRoleplayDefaults(deps, {
              ...stored,
              name: body.character_name ?? stored.name,
              greeting: body.greeting ?? stored.greeting,
            })
          : {
              id: null,
              name: body.character_name ?? null,
              persona: null,
              voice_id: null,
              greeting: body.greeting ?? null,
            };
        const conversationId = body.conversation_id ?? newId();
        const names = { char: character.name, user: input.userName ?? null };
        const opened = await conversations.openTurn({
          id: conversationId,
          create: !body.conversation_id,
          owner,
          characterId: character.id,
          greeting: character.greeting && expandMacros(character.greeting, names),
          jobId,
        });
        if (!opened) throw notFound('conversation');
        if (
          !body.conversation_id &&
          character.greeting &&
          body.greeting === undefined &&
          otherGreetings.length
        ) {
          await deps.conversationAdmin.addGreetingAlternatives(
            conversationId,
            otherGreetings.map((g) => expandMacros(g, names)),
          );
        }
        // The owner's list of conversations (openTurn remembered the job for deletion).
        await deps.conversationAdmin.track(owner, conversationId);
        const { turn, head } = opened;
        const ttsWanted = body.tts ?? config.tts.enabledByDefault;
        const data: ChatJobData = {
          job_id: jobId,
          owner,
          conversation_id: conversationId,
          turn,
          kind: 'roleplay',
          message: body.message,
          character,
          persona: body.persona ?? null,
          scenario: body.scenario ?? null,
          model: body.model ?? config.llm.model,
          temperature: body.temperature ?? config.llm.temperature,
          // top_p 0 means greedy: temperature 0, and no top_p (vLLM refuses 0).
          ...(body.top_p === 0 ? { temperature: 0, top_p: null } : { top_p: body.top_p ?? null }),
          max_tokens: body.max_tokens ?? config.llm.maxTokens,
          stop: body.stop === undefined ? null : [body.stop].flat(),
          seed: body.seed ?? null,
          ...samplingOf(body),
          tts: ttsWanted && config.tts.engine !== 'none',
          tts_mode: body.tts_mode ?? 'realtime',
          voice_id: body.voice_id ?? null,
          created_at: Date.now(),
          user_name: input.userName ?? null,
        };
        const tts: TtsInfo = data.tts
          ? { status: 'pending', mode: data.tts_mode, voice_id: data.voice_id ?? character.voice_id }
          : {
              status: 'skipped',
              mode: data.tts_mode,
              reason: ttsWanted ? 'TTS_ENGINE=none' : 'not requested',
            };
        return { data, tts, head };
      },
      bytes,
    );
    return { job_id: jobId, conversation_id: data.conversation_id, status: 'queued', links: jobLinks(jobId) };
  } catch (err) {
    // A refused submission must not hold the key: the client's retry should get a fresh try.
    if (idemKey) await redis.del(idemKey).catch(() => {});
    throw err;
  }
}

/** The sampler fields of a `POST /chat/jobs` body that go to the backend beyond the basic ones. */
export function samplingOf(
  body: Pick<
    ChatJobRequest,
    'top_k' | 'min_p' | 'repetition_penalty' | 'presence_penalty' | 'frequency_penalty'
  >,
): { params?: BackendParams } {
  const params: BackendParams = {};
  if (body.top_k !== undefined) params.top_k = body.top_k;
  if (body.min_p !== undefined) params.min_p = body.min_p;
  if (body.repetition_penalty !== undefined) params.repetition_penalty = body.repetition_penalty;
  if (body.presence_penalty !== undefined) params.presence_penalty = body.presence_penalty;
  if (body.frequency_penalty !== undefined) params.frequency_penalty = body.frequency_penalty;
  return Object.keys(params).length > 0 ? { params } : {};
}

/** A stored character's lorebook with the server's scan depth and token budget where the card names none. */
export function withRoleplayDefaults(deps: ApiDeps, c: CharacterSnapshot): CharacterSnapshot {
  if (!c.lorebook) return c;
  const { loreScanDepth, loreTokenBudget } = deps.config.roleplay;
  return {
    ...c,
    lorebook: withLoreDefaults(c.lorebook, { scanDepth: loreScanDepth, tokenBudget: loreTokenBudget }),
  };
}

/**
 * What every chat job goes through on its way in, whatever built it (`POST /chat/jobs`, the OpenAI
 * facade): its owner's cap (USER_MAX_ACTIVE_JOBS), the queue's room (QUEUE_MAX_DEPTH), then the record
 * and the queue (fair share, one turn of a conversation at a time). `prepare` builds the job once there
 * is room; a refusal anywhere gives the owner's slot back.
 */
export async function admitChatJob(
  deps: ApiDeps,
  owner: string,
  jobId: string,
  /** `head`: the job whose turn of the conversation runs next (null or the job itself: this one). */
  prepare: () => Promise<{ data: ChatJobData; tts: TtsInfo; head?: string | null }>,
  /** Bytes of the request the job will store, counted against USER_MAX_QUEUED_BYTES. */
  requestBytes = 0,
): Promise<ChatJobData> {
  let slotHeld = false;
  let priority = 0;
  try {
    // Independent steps go out together; whatever succeeded is undone if another step refuses.
    const [slot, room] = await Promise.allSettled([
      holdUserSlot(deps, owner, jobId, requestBytes),
      checkQueueRoom(deps),
    ]);
    slotHeld = slot.status === 'fulfilled';
    if (slot.status === 'rejected') throw slot.reason;
    if (room.status === 'rejected') throw room.reason;
    const [prepared, ticket] = await Promise.allSettled([prepare(), deps.dispatcher.ticket(owner)]);
    if (ticket.status === 'fulfilled') priority = ticket.value;
    if (prepared.status === 'rejected') throw prepared.reason;
    if (ticket.status === 'rejected') throw ticket.reason;
    const { data, tts, head } = prepared.value;
    // A job at the head of its conversation goes onto the queue now, which then holds the request.
    const enqueuedNow = (head ?? null) === null || head === data.job_id;
    await deps.jobs.create(data, { tts, priority, storeRequest: !enqueuedNow });
    await deps.dispatcher.enqueueNew(data, priority, head ?? null);
    return data;
  } catch (err) {
    if (slotHeld) await deps.userJobs.release(owner, jobId).catch(() => {});
    if (priority > 0) await deps.dispatcher.fair.leave(owner).catch(() => {});
    throw err;
  }
}

/**
 * Counts the job against its owner's cap on queued plus running jobs (USER_MAX_ACTIVE_JOBS), so that one
 * user's burst cannot fill the queue for everyone. Whoever ends the job gives the slot back.
 */
async function holdUserSlot(deps: ApiDeps, owner: string, jobId: string, bytes: number): Promise<true> {
  const limit = deps.config.jobs.maxActivePerUser;
  const byteLimit = deps.config.jobs.maxQueuedBytesPerUser;
  const slot = await deps.userJobs.acquire(owner, jobId, { jobs: limit, bytes: byteLimit }, bytes);
  if (slot.acquired) return true;
  if (slot.refusedBy === 'bytes') {
    throw new GatewayError(
      'user_job_limit',
      `your queued and running chat jobs hold ${slot.bytes} bytes of requests; this one (${bytes} bytes) would pass the ${byteLimit} bytes one user may have; wait for one to end`,
      {
        retryAfter: 5,
        details: { scope: 'bytes', bytes: slot.bytes, request_bytes: bytes, limit: byteLimit },
      },
    );
  }
  const retryAfter = Math.max(1, Math.ceil(((await deps.chatStats.averageJobMs()) ?? 2_000) / 1000));
  throw new GatewayError(
    'user_job_limit',
    `you have ${slot.active} chat jobs queued or running, the most one user may have; wait for one to end`,
    { retryAfter, details: { active: slot.active, limit } },
  );
}

/** Refuses new work beyond the configured depth, with a wait estimated from the backlog. */
async function checkQueueRoom(deps: ApiDeps): Promise<void> {
  // The pool's whole backlog: QUEUE_MAX_DEPTH bounds what the gateway holds, whatever the servers.
  const depth = deps.pool.single ? await deps.chatStats.depth() : await deps.pool.depth();
  const max = deps.config.jobs.maxQueueDepth;
  if (depth < max) return;
  const avgMs = (await deps.chatStats.averageJobMs()) ?? 2_000;
  const retryAfter = Math.max(1, Math.ceil(((depth - max + 1) * avgMs) / deps.config.llm.concurrency / 1000));
  throw new GatewayError('queue_full', `the queue is full (${depth} waiting); try again in ${retryAfter} s`, {
    retryAfter,
    details: { depth, max_depth: max },
  });
}

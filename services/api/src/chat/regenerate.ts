import {
  type CharacterSnapshot,
  type ChatJobAccepted,
  ChatJobData,
  type ChatJobRequest,
  GatewayError,
  TERMINAL_STATUSES,
  type TtsInfo,
} from '@gateway/contracts';
import type { AdminRefusal } from '@gateway/queue';
import type { ApiDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { admitChatJob, jobLinks, newId, samplingOf, withRoleplayDefaults } from './submit.js';

/** The job fields a regeneration may change; the rest come from the turn's first job. */
export type RegenerateOverrides = Omit<
  ChatJobRequest,
  'message' | 'conversation_id' | 'character_id' | 'character_name' | 'greeting'
>;

export function refusal(r: AdminRefusal | 'no_message' | 'no_alternative'): GatewayError {
  switch (r) {
    case 'not_found':
      return notFound('conversation');
    case 'busy':
      return new GatewayError(
        'conversation_busy',
        'a turn of this conversation is queued or running; wait for it to end (or cancel it) first',
        { retryAfter: 2 },
      );
    case 'nothing':
      return new GatewayError('conflict', 'the conversation has no reply to a message to generate again');
    case 'no_message':
      return notFound('message');
    case 'no_alternative':
      return new GatewayError('invalid_input', 'that message has no such alternative', {
        details: [{ field: 'body.selected', message: 'must be an index of the message alternatives' }],
      });
  }
}

/**
 * A turn's job is marked ended a moment before its worker takes it out of the conversation's line. A
 * change asked for in that moment should not see the conversation as busy: ended jobs at the head of the
 * line are released here (the dispatcher's own step, safe to repeat). True when one was.
 */
export async function releaseEndedTurns(deps: ApiDeps, conversationId: string): Promise<boolean> {
  let released = false;
  for (const jobId of await deps.conversationAdmin.pending(conversationId)) {
    const rec = await deps.jobs.get(jobId);
    if (rec && !TERMINAL_STATUSES.has(rec.status)) break;
    await deps.dispatcher.advance(conversationId, jobId);
    released = true;
  }
  return released;
}

/** Runs a conversation change; when it finds the conversation busy only with ended turns, once more. */
export async function whenSettled<T>(
  deps: ApiDeps,
  conversationId: string,
  change: () => Promise<T>,
): Promise<T> {
  const first = await change();
  if (first !== 'busy') return first;
  return (await releaseEndedTurns(deps, conversationId)) ? change() : first;
}

/**
 * `POST /conversations/{id}/regenerate`: the newest reply is generated again from the same history and
 * user message, as a new chat job through the same admission as any turn. The job's settings are the
 * turn's first job's (character, persona, scenario, sampling) unless the body names others; when that
 * record has expired, the conversation's stored character and the server defaults stand in.
 */
export async function submitRegeneration(
  deps: ApiDeps,
  input: { owner: string; userName: string; conversationId: string; body: RegenerateOverrides },
): Promise<ChatJobAccepted> {
  const { owner, conversationId, body } = input;
  const meta = await deps.conversations.meta(conversationId);
  if (!meta || meta.owner !== owner) throw notFound('conversation');
  const jobId = newId();
  await admitChatJob(deps, owner, jobId, async () => {
    const opened = await whenSettled(deps, conversationId, () =>
      deps.conversationAdmin.openRegeneration(owner, conversationId, jobId),
    );
    if (typeof opened === 'string') throw refusal(opened);
    const turn = opened.turn;
    try {
      const first = turn.job_id ? await deps.jobs.get(turn.job_id) : null;
      const base = first?.data ?? (await fallbackData(deps, owner, meta.characterId));
      const data: ChatJobData = {
        ...base,
        job_id: jobId,
        owner,
        conversation_id: conversationId,
        turn: turn.turn,
        kind: 'roleplay',
        message: turn.user ?? '',
        regenerate: true,
        user_name: input.userName,
        created_at: Date.now(),
        ...overrides(deps, body),
      };
      // The extra sampler fields travel as `params` in the job, not under their request names.
      const sampling = samplingOf(body).params;
      if (sampling) data.params = { ...base.params, ...sampling };
      const tts: TtsInfo = data.tts
        ? { status: 'pending', mode: data.tts_mode, voice_id: data.voice_id ?? data.character.voice_id }
        : {
            status: 'skipped',
            mode: data.tts_mode,
            // Said the way POST /chat/jobs says it, so a client can tell "off here" from "not asked for".
            reason: deps.config.tts.engine === 'none' ? 'TTS_ENGINE=none' : 'not requested',
          };
      return { data, tts, head: jobId };
    } catch (err) {
      // Out of line again, so that the conversation is not left busy by a job that never existed.
      await deps.conversations.releaseTurn(conversationId, jobId).catch(() => null);
      throw err;
    }
  });
  return { job_id: jobId, conversation_id: conversationId, status: 'queued', links: jobLinks(jobId) };
}

type BaseData = Omit<
  ChatJobData,
  'job_id' | 'owner' | 'conversation_id' | 'turn' | 'kind' | 'message' | 'created_at'
>;

async function fallbackData(deps: ApiDeps, owner: string, characterId: string | null): Promise<BaseData> {
  const { config } = deps;
  const stored = characterId ? await deps.characters.get(owner, characterId) : null;
  const character: CharacterSnapshot = stored
    ? withRoleplayDefaults(deps, {
        id: stored.id,
        name: stored.name,
        persona: stored.persona || null,
        voice_id: stored.voice_id,
        greeting: stored.greeting,
        lorebook: stored.lorebook,
      })
    : { id: null, name: null, persona: null, voice_id: null, greeting: null };
  return {
    character,
    persona: null,
    scenario: null,
    model: config.llm.model,
    temperature: config.llm.temperature,
    top_p: null,
    max_tokens: config.llm.maxTokens,
    tts: config.tts.enabledByDefault && config.tts.engine !== 'none',
    tts_mode: 'realtime',
    voice_id: null,
  };
}

/** Job fields a regeneration body may not set: they say which turn this is, not how to generate it. */
const FIXED = new Set([
  'job_id',
  'owner',
  'conversation_id',
  'turn',
  'kind',
  'message',
  'messages',
  'character',
]);
const DATA_FIELDS = new Set(Object.keys(ChatJobData.shape));

/**
 * The body's fields over the first job's: every request field that is a job field of the same name
 * (model, temperature, max_tokens, persona, scenario, voice_id, tts_mode, stop, seed) is taken as given;
 * the backend-only sampler fields go into `params` (see `samplingOf`);
 * `tts` is off while the engine is `none`. Absent fields keep the first job's.
 */
function overrides(deps: ApiDeps, body: RegenerateOverrides): Partial<ChatJobData> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body)) {
    if (value !== undefined && DATA_FIELDS.has(field) && !FIXED.has(field)) out[field] = value;
  }
  if (body.tts !== undefined) out.tts = body.tts && deps.config.tts.engine !== 'none';
  return out as Partial<ChatJobData>;
}

import { z } from 'zod';
import { Lorebook } from './characters.js';
import { BackendParams, Scenario, TtsMode } from './chat.js';

/** Payloads on the BullMQ queues. Kept small: the prompt is built by the worker from these. */

export const CharacterSnapshot = z.object({
  id: z.string().nullable(),
  name: z.string().nullable(),
  persona: z.string().nullable(),
  voice_id: z.string().nullable(),
  greeting: z.string().nullable(),
  /** The character's lorebook, with the server's defaults filled in (scan depth, token budget). */
  lorebook: Lorebook.nullable().optional(),
  /**
   * A stored character kept by reference: the job holds its id, name and voice only, and the llm-worker
   * reads its persona and lorebook when the job runs (an edit made while it waits applies to it).
   */
  by_reference: z.literal(true).optional(),
});
export type CharacterSnapshot = z.infer<typeof CharacterSnapshot>;

export const ChatMessageData = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  name: z.string().optional(),
  tool_calls: z.array(z.unknown()).optional(),
  tool_call_id: z.string().optional(),
});

export const ChatJobData = z.object({
  job_id: z.string(),
  owner: z.string(),
  conversation_id: z.string(),
  /** Order of this turn in its conversation; turns run one at a time in this order. */
  turn: z.number().int(),
  /** `roleplay`: prompt built from character + history; `openai`: `messages` are the whole prompt. */
  kind: z.enum(['roleplay', 'openai']),
  message: z.string(),
  messages: z.array(ChatMessageData).optional(),
  character: CharacterSnapshot,
  persona: z.string().nullable(),
  scenario: Scenario.nullable(),
  model: z.string(),
  temperature: z.number(),
  top_p: z.number().nullable(),
  max_tokens: z.number().int(),
  stop: z.array(z.string()).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  /** Sampler and facade fields passed on as they came (see BackendParams). */
  params: BackendParams.optional(),
  tts: z.boolean(),
  tts_mode: TtsMode,
  voice_id: z.string().nullable(),
  created_at: z.number(),
  /** How `{{user}}` reads in the prompt: the user's display name. */
  user_name: z.string().nullable().optional(),
  /** Generates turn `turn` again: the reply joins that turn's alternatives instead of a new turn. */
  regenerate: z.boolean().optional(),
});
export type ChatJobData = z.infer<typeof ChatJobData>;

/**
 * The stored form of a chat job (BullMQ's job data, a waiting turn's record), at most 1 KB of Redis a
 * waiting job (issue #15): nulls and defaults are left out, so are the job id and creation time (its
 * holder has them), and a stored character keeps only its id, name and voice (see `by_reference`).
 * `decodeChatJob` is the one way back.
 */
export function encodeChatJob(data: ChatJobData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'tts_mode' && v === 'realtime') continue;
    if (k === 'kind' && v === 'roleplay') continue;
    // Both are the holder's: BullMQ's job id and timestamp, the record's key and `created_at`.
    if (k === 'job_id' || k === 'created_at') continue;
    if (k === 'character') continue;
    out[k] = v;
  }
  const c: Partial<CharacterSnapshot> = data.character ?? {};
  const character: Record<string, unknown> = {};
  if (c.id) {
    character.id = c.id;
    character.by_reference = true;
  }
  if (c.name != null) character.name = c.name;
  if (c.voice_id != null) character.voice_id = c.voice_id;
  // An inline character (no id) has nothing to refer to: what it carries stays in the job.
  if (!c.id && c.persona != null) character.persona = c.persona;
  if (!c.id && c.lorebook) character.lorebook = c.lorebook;
  if (Object.keys(character).length) out.character = character;
  return out;
}

/**
 * A stored chat job (`encodeChatJob`, or a full one written before it) back to its full, typed form.
 * `holder`: the id and creation time of what held it (BullMQ's job id and timestamp, or the record's).
 */
export function decodeChatJob(raw: unknown, holder: { job_id: string; created_at: number }): ChatJobData {
  const r = raw as Partial<ChatJobData> & { character?: Partial<CharacterSnapshot> };
  return {
    job_id: holder.job_id,
    created_at: holder.created_at,
    kind: 'roleplay',
    ...r,
    character: {
      id: null,
      name: null,
      persona: null,
      voice_id: null,
      greeting: null,
      ...r.character,
    },
    persona: r.persona ?? null,
    scenario: r.scenario ?? null,
    top_p: r.top_p ?? null,
    stop: r.stop ?? null,
    seed: r.seed ?? null,
    tts: r.tts ?? false,
    tts_mode: r.tts_mode ?? 'realtime',
    voice_id: r.voice_id ?? null,
    user_name: r.user_name ?? null,
  } as ChatJobData;
}

export const TtsJobData = z.object({
  job_id: z.string(),
  owner: z.string(),
  text: z.string(),
  voice_id: z.string().nullable(),
  mode: TtsMode,
  format: z.string().default('wav'),
  /** Speech requested directly (OpenAI facade) rather than for a chat reply. */
  standalone: z.boolean().default(false),
  speed: z.number().optional(),
  created_at: z.number(),
  /**
   * Which speech run of the chat job this is: 0 is the hand-off after the reply, each
   * `POST /chat/jobs/{id}/tts` starts the next. Guards its events so a re-run never emits twice.
   */
  run: z.number().int().min(0).optional(),
  /**
   * Speech while the reply streams: which attempt of the chat job made this sentence chunk (`chunk`, its
   * number) or, with `chunks`, the job that seals the attempt after the reply with its chunk count.
   */
  attempt: z.number().int().min(1).optional(),
  chunk: z.number().int().min(0).optional(),
  chunks: z.number().int().min(0).optional(),
  /** Times this job stepped aside for jobs of the voice already loaded (GPT-SoVITS). */
  deferrals: z.number().int().min(0).optional(),
});
export type TtsJobData = z.infer<typeof TtsJobData>;

/** What a finished speech job returns through BullMQ (standalone callers wait on it). */
export const TtsJobResult = z.object({
  /** The key of the audio in the audio store: the job id. */
  audio_id: z.string(),
  status: z.enum(['completed', 'skipped', 'failed']),
  content_type: z.string().nullable(),
  size: z.number().int().nullable(),
  duration_seconds: z.number().nullable(),
  voice_id: z.string().nullable(),
  reason: z.string().optional(),
});
export type TtsJobResult = z.infer<typeof TtsJobResult>;

import { z } from 'zod';

/** Public API bodies for chat jobs (see ../shared/API.md, "Chat jobs"). */

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

export const TtsMode = z.enum(['realtime', 'delayed', 'on_click']);
export type TtsMode = z.infer<typeof TtsMode>;

export const Scenario = z
  .object({
    opponent: z.string().max(2_000).optional(),
    situation: z.string().max(4_000).optional(),
    background: z.string().max(8_000).optional(),
  })
  .strict();
export type Scenario = z.infer<typeof Scenario>;

// Ids are opaque, URL-safe strings; a bound on their shape keeps odd input away from Redis keys.
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -');

/**
 * Sampler fields shared by `POST /chat/jobs` and `/v1/chat/completions` (../shared/API.md). Each goes to
 * vLLM at the top level under the same name and to Ollama under its own `options` name; the ranges are
 * the widest both backends accept. `top_p: 0` means greedy (sent as `temperature: 0`).
 */
export const SamplingFields = {
  top_p: z.number().min(0).max(1),
  // -1 (vLLM) and 0 (Ollama) both mean "no top-k"; either is accepted and mapped.
  top_k: z.number().int().min(-1).max(1_000),
  min_p: z.number().min(0).max(1),
  repetition_penalty: z.number().gt(0).max(2),
  presence_penalty: z.number().min(-2).max(2),
  frequency_penalty: z.number().min(-2).max(2),
  stop: z.union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).max(16)]),
  seed: z
    .number()
    .int()
    .min(-(2 ** 53 - 1))
    .max(2 ** 53 - 1),
} as const;

/** What the worker passes on beyond model, messages, max_tokens, temperature, top_p, stop and seed. */
export const BackendParams = z.object({
  top_k: z.number().int().optional(),
  min_p: z.number().optional(),
  repetition_penalty: z.number().optional(),
  presence_penalty: z.number().optional(),
  frequency_penalty: z.number().optional(),
  /** OpenAI's token-id -> bias map (vLLM only). */
  logit_bias: z.record(z.string(), z.number()).optional(),
  logprobs: z.boolean().optional(),
  top_logprobs: z.number().int().optional(),
  /** Choices wanted (vLLM `n`; Ollama: n runs of one job). */
  n: z.number().int().min(1).optional(),
  /** OpenAI `response_format` as sent (`json_object` / `json_schema`). */
  response_format: z.record(z.string(), z.unknown()).optional(),
  tools: z.array(z.record(z.string(), z.unknown())).optional(),
  tool_choice: z.unknown().optional(),
  /** The last message is an assistant message to continue (vLLM `continue_final_message`, Ollama prefill). */
  continue_final: z.boolean().optional(),
});
export type BackendParams = z.infer<typeof BackendParams>;

export const ChatJobRequest = z
  .object({
    message: z.string().trim().min(1, 'must not be empty').max(16_000),
    conversation_id: Id.optional(),
    character_id: Id.optional(),
    character_name: z.string().trim().min(1).max(200).optional(),
    persona: z.string().max(16_000).optional(),
    scenario: Scenario.optional(),
    greeting: z.string().max(4_000).optional(),
    model: z.string().min(1).max(200).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).max(32_768).optional(),
    top_p: SamplingFields.top_p.optional(),
    top_k: SamplingFields.top_k.optional(),
    min_p: SamplingFields.min_p.optional(),
    repetition_penalty: SamplingFields.repetition_penalty.optional(),
    presence_penalty: SamplingFields.presence_penalty.optional(),
    frequency_penalty: SamplingFields.frequency_penalty.optional(),
    stop: SamplingFields.stop.optional(),
    seed: SamplingFields.seed.optional(),
    tts: z.boolean().optional(),
    tts_mode: TtsMode.optional(),
    voice_id: z.string().min(1).max(200).optional(),
  })
  .strict();
export type ChatJobRequest = z.infer<typeof ChatJobRequest>;

export const JobLinks = z.object({ self: z.string(), events: z.string(), audio: z.string() });

export const ChatJobAccepted = z.object({
  job_id: z.string(),
  conversation_id: z.string(),
  status: JobStatus,
  links: JobLinks,
});
export type ChatJobAccepted = z.infer<typeof ChatJobAccepted>;

export const Usage = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
});
export type Usage = z.infer<typeof Usage>;

/** OpenAI's tool call as a reply carries it. */
export const ToolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
export type ToolCall = z.infer<typeof ToolCall>;

/** One generated alternative beyond the first (`n` > 1). */
export const ReplyChoice = z.object({
  content: z.string(),
  finish_reason: z.enum(['stop', 'length']),
  logprobs: z.unknown().optional(),
  tool_calls: z.array(ToolCall).optional(),
});
export type ReplyChoice = z.infer<typeof ReplyChoice>;

export const Reply = z.object({
  content: z.string(),
  model: z.string(),
  finish_reason: z.enum(['stop', 'length']),
  usage: Usage,
  /** OpenAI-shaped `{"content": [...]}` when logprobs were asked for and the backend gave them. */
  logprobs: z.unknown().optional(),
  tool_calls: z.array(ToolCall).optional(),
  /** Every choice, the first one included, when more than one was asked for. */
  choices: z.array(ReplyChoice).optional(),
  /** Messages of the caller's history left out to fit the context window (OpenAI facade). */
  dropped_messages: z.number().int().optional(),
});
export type Reply = z.infer<typeof Reply>;

export const TtsStatus = z.enum(['pending', 'running', 'completed', 'failed', 'skipped']);
export type TtsStatus = z.infer<typeof TtsStatus>;

export const TtsInfo = z.object({
  status: TtsStatus,
  mode: TtsMode.optional(),
  voice_id: z.string().nullable().optional(),
  format: z.string().optional(),
  audio_url: z.string().optional(),
  duration_seconds: z.number().optional(),
  reason: z.string().optional(),
  /** Speech while the reply streams (status running): how many sentence chunks are ready so far. */
  chunks_ready: z.number().int().optional(),
});
export type TtsInfo = z.infer<typeof TtsInfo>;

export const JobErrorInfo = z.object({ code: z.string(), message: z.string() });
export type JobErrorInfo = z.infer<typeof JobErrorInfo>;

export const ChatJobView = z.object({
  job_id: z.string(),
  conversation_id: z.string(),
  status: JobStatus,
  queue_position: z.number().int().nullable(),
  eta_seconds: z.number().nullable(),
  workers_online: z.number().int().nullable(),
  backend: z.object({ status: z.enum(['up', 'down', 'unknown']) }).optional(),
  attempt: z.number().int(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  reply: Reply.nullable(),
  tts: TtsInfo.nullable(),
  error: JobErrorInfo.nullable(),
});
export type ChatJobView = z.infer<typeof ChatJobView>;

export const ConversationMessage = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  job_id: z.string().nullable(),
  created_at: z.string(),
  /** The texts this message has had generated (swipes); `content` is `alternatives[selected]`. */
  alternatives: z.array(z.string()),
  selected: z.number().int(),
});
export type ConversationMessage = z.infer<typeof ConversationMessage>;

export const ConversationView = z.object({
  conversation_id: z.string(),
  character_id: z.string().nullable(),
  title: z.string().nullable(),
  messages: z.array(ConversationMessage),
});
export type ConversationView = z.infer<typeof ConversationView>;

export const ModelsView = z.object({
  backend: z.enum(['vllm', 'ollama']),
  models: z.array(z.object({ id: z.string(), details: z.record(z.string(), z.unknown()) })),
});
export type ModelsView = z.infer<typeof ModelsView>;

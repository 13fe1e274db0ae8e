import { z } from 'zod';
import { Id, SamplingFields } from './chat.js';

/**
 * The OpenAI-compatible facade (`/v1`) and the API keys programs use with it. Requests follow OpenAI's
 * API: fields we do not serve are ignored as OpenAI ignores unknown ones (zod strips them), `null` is
 * accepted wherever OpenAI accepts it.
 */

/** One content part of a message: only text parts can be sent to the model (checked by the route). */
export const OpenAiContentPart = z.looseObject({ type: z.string().max(64), text: z.string().optional() });

export const OpenAiToolCall = z.object({
  id: z.string().max(256),
  type: z.literal('function'),
  function: z.object({ name: z.string().max(256), arguments: z.string().max(100_000) }),
});

export const OpenAiMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  // Assistant turns that only called tools have `content: null`.
  content: z.union([z.string(), z.array(OpenAiContentPart).max(256)]).nullish(),
  name: z.string().max(256).nullish(),
  tool_calls: z.array(OpenAiToolCall).max(128).nullish(),
  tool_call_id: z.string().max(256).nullish(),
});
export type OpenAiMessage = z.infer<typeof OpenAiMessage>;

export const OpenAiTool = z.object({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1).max(64),
    description: z.string().max(8_000).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

export const OpenAiResponseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string().min(1).max(64),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

export const OpenAiChatRequest = z.object({
  // An empty name (a client that has not picked one yet) means the default model.
  model: z.string().max(200).nullish(),
  messages: z.array(OpenAiMessage).min(1, 'must hold at least one message').max(4_000),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().min(1).max(32_768).nullish(),
  max_completion_tokens: z.number().int().min(1).max(32_768).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: SamplingFields.top_p.nullish(),
  top_k: SamplingFields.top_k.nullish(),
  min_p: SamplingFields.min_p.nullish(),
  repetition_penalty: SamplingFields.repetition_penalty.nullish(),
  presence_penalty: SamplingFields.presence_penalty.nullish(),
  frequency_penalty: SamplingFields.frequency_penalty.nullish(),
  // OpenAI allows an empty list: no stop strings.
  stop: z.union([z.string().max(200), z.array(z.string().max(200)).max(16)]).nullish(),
  seed: SamplingFields.seed.nullish(),
  logit_bias: z
    .record(z.string().regex(/^\d{1,7}$/, 'keys must be token ids'), z.number().min(-100).max(100))
    .nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  n: z.number().int().min(1).max(8).nullish(),
  response_format: OpenAiResponseFormat.nullish(),
  tools: z.array(OpenAiTool).max(128).nullish(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1).max(64) }) }),
    ])
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** OpenAI fields the gateway cannot honour: accepted by the schema so that the route can name them (400). */
  functions: z.unknown().optional(),
  function_call: z.unknown().optional(),
  audio: z.unknown().optional(),
  prediction: z.unknown().optional(),
  web_search_options: z.unknown().optional(),
  user: z.string().max(256).nullish(),
  /** Extra field: a stored character whose role-play system prompt goes before the messages. */
  character_id: Id.nullish(),
});
export type OpenAiChatRequest = z.infer<typeof OpenAiChatRequest>;

export const OpenAiUsage = z.object({
  prompt_tokens: z.number().int(),
  total_tokens: z.number().int(),
  completion_tokens: z.number().int(),
});

export const ChatCompletion = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({
        role: z.literal('assistant'),
        content: z.string().nullable(),
        tool_calls: z.array(OpenAiToolCall).optional(),
      }),
      logprobs: z.unknown(),
      finish_reason: z.enum(['stop', 'length', 'tool_calls']),
    }),
  ),
  usage: OpenAiUsage,
});
export type ChatCompletion = z.infer<typeof ChatCompletion>;

export const OpenAiModel = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
});
export const OpenAiModelList = z.object({ object: z.literal('list'), data: z.array(OpenAiModel) });
export type OpenAiModelList = z.infer<typeof OpenAiModelList>;

export const SPEECH_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;

export const OpenAiSpeechRequest = z.object({
  model: z.string().min(1).max(200).nullish(),
  input: z.string().min(1, 'must not be empty').max(4_096),
  voice: z.string().min(1).max(200),
  // OpenAI's default is mp3; ours is wav, the one format every engine here makes.
  response_format: z.enum(SPEECH_FORMATS).nullish(),
  speed: z.number().min(0.25).max(4).nullish(),
});
export type OpenAiSpeechRequest = z.infer<typeof OpenAiSpeechRequest>;

/** `{"error": {...}}` as OpenAI sends it; `code` is the gateway's stable error code. */
export const OpenAiErrorBody = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});
export type OpenAiErrorBody = z.infer<typeof OpenAiErrorBody>;

// API keys.

export const API_KEY_PREFIX = 'gwk_';

export const ApiKeyCreate = z
  .object({ name: z.string().trim().min(1, 'must not be empty').max(100) })
  .strict();
export type ApiKeyCreate = z.infer<typeof ApiKeyCreate>;

export const ApiKeyView = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
});
export type ApiKeyView = z.infer<typeof ApiKeyView>;

/** The only answer that ever holds the key itself. */
export const ApiKeyCreated = z.object({
  id: z.string(),
  name: z.string(),
  key: z.string(),
  created_at: z.string(),
});
export type ApiKeyCreated = z.infer<typeof ApiKeyCreated>;

export const ApiKeyList = z.object({ api_keys: z.array(ApiKeyView) });
export type ApiKeyList = z.infer<typeof ApiKeyList>;

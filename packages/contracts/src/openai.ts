import { z } from 'zod';
import { Id } from './chat.js';

/**
 * The OpenAI-compatible facade (`/v1`) and the API keys programs use with it. Requests follow OpenAI's
 * API: fields we do not serve are ignored as OpenAI ignores unknown ones (zod strips them), `null` is
 * accepted wherever OpenAI accepts it.
 */

/** One content part of a message: only text parts can be sent to the model (checked by the route). */
export const OpenAiContentPart = z.looseObject({ type: z.string().max(64), text: z.string().optional() });

export const OpenAiMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  // Assistant turns that only called tools have `content: null`.
  content: z.union([z.string(), z.array(OpenAiContentPart).max(256)]).nullish(),
  name: z.string().max(256).nullish(),
});
export type OpenAiMessage = z.infer<typeof OpenAiMessage>;

export const OpenAiChatRequest = z.object({
  model: z.string().min(1).max(200).nullish(),
  messages: z.array(OpenAiMessage).min(1, 'must hold at least one message').max(4_000),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().min(1).max(32_768).nullish(),
  max_completion_tokens: z.number().int().min(1).max(32_768).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stop: z.union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).max(16)]).nullish(),
  seed: z.number().int().nullish(),
  n: z.number().int().nullish(),
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
      message: z.object({ role: z.literal('assistant'), content: z.string() }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length']),
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

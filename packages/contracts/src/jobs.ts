import { z } from 'zod';
import { Scenario, TtsMode } from './chat.js';

/** Payloads on the BullMQ queues. Kept small: the prompt is built by the worker from these. */

export const CharacterSnapshot = z.object({
  id: z.string().nullable(),
  name: z.string().nullable(),
  persona: z.string().nullable(),
  voice_id: z.string().nullable(),
  greeting: z.string().nullable(),
});
export type CharacterSnapshot = z.infer<typeof CharacterSnapshot>;

export const ChatMessageData = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
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
  tts: z.boolean(),
  tts_mode: TtsMode,
  voice_id: z.string().nullable(),
  created_at: z.number(),
});
export type ChatJobData = z.infer<typeof ChatJobData>;

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
});
export type TtsJobData = z.infer<typeof TtsJobData>;

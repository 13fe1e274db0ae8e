import { z } from 'zod';
import { JobErrorInfo, JobStatus, Reply, TtsInfo } from './chat.js';

/**
 * Job events as they are stored in the per-job Redis Stream and sent as SSE.
 * The stream entry id is the SSE `id:`.
 */
export const StatusEventData = z.object({
  status: JobStatus,
  queue_position: z.number().int().nullable().optional(),
  eta_seconds: z.number().nullable().optional(),
  workers_online: z.number().int().nullable().optional(),
  // A retry starts the text again: a client discards the tokens it got before a `running` event with attempt > 1.
  attempt: z.number().int().optional(),
  reason: z.string().optional(),
  /** Messages of a `/v1` caller's history left out to fit the context window (said before the first token). */
  dropped_messages: z.number().int().optional(),
});
export const TokenEventData = z.object({ delta: z.string() });
/**
 * A `tts` event: one per sentence chunk while the reply is spoken (`chunk` 0, 1, 2… in order, the first
 * ones before `reply`; `attempt` tells which run of the reply they belong to: a client drops the chunks of
 * an earlier attempt), then the final one without `chunk`, for the whole reply's audio.
 */
export const TtsChunkInfo = TtsInfo.extend({
  chunk: z.number().int().optional(),
  attempt: z.number().int().optional(),
});
export type TtsChunkInfo = z.infer<typeof TtsChunkInfo>;
export const DoneEventData = z.object({ status: JobStatus });

export const JobEvent = z.discriminatedUnion('event', [
  z.object({ event: z.literal('status'), data: StatusEventData }),
  z.object({ event: z.literal('token'), data: TokenEventData }),
  z.object({ event: z.literal('reply'), data: Reply }),
  z.object({ event: z.literal('tts'), data: TtsChunkInfo }),
  z.object({ event: z.literal('error'), data: JobErrorInfo }),
  z.object({ event: z.literal('done'), data: DoneEventData }),
]);
export type JobEvent = z.infer<typeof JobEvent>;
export type JobEventName = JobEvent['event'];
